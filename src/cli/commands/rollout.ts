/** `egressctl rollout`: kept as an alias of `egressctl sync` (its default source stays baselines). */
import { syncCommand } from './sync.js';

export const command = syncCommand('rollout');
