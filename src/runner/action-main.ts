/** Entry point bundled into actions/harden/dist/index.js. */
import { runAction } from './action.js';
import { messageOf } from '../util/errors.js';

runAction(process.env, (line) => process.stdout.write(`${line}\n`)).then(
  (result) => {
    process.exitCode = result.exitCode;
  },
  (error: unknown) => {
    process.stdout.write(`::error title=egressctl::${messageOf(error)}\n`);
    process.exitCode = 1;
  },
);
