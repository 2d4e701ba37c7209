/** Entry point bundled into actions/harden/dist/index.js. */
import { runAction } from './action.js';

runAction(process.env, (line) => process.stdout.write(`${line}\n`)).then(
  (result) => {
    process.exitCode = result.exitCode;
  },
  (error: unknown) => {
    process.stdout.write(`::error title=egressctl::${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  },
);
