/** The corpus suites say why they skipped (issue 23): one line naming EGRESSCTL_CORPUS. */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { corpusForSuite, CORPUS_ENV } from './workflow-corpus.js';

const saved = process.env[CORPUS_ENV];
afterEach(() => {
  vi.restoreAllMocks();
  if (saved === undefined) delete process.env[CORPUS_ENV];
  else process.env[CORPUS_ENV] = saved;
});

describe('corpusForSuite', () => {
  it('prints why the suite skips when EGRESSCTL_CORPUS is unset', () => {
    delete process.env[CORPUS_ENV];
    const info = vi.spyOn(console, 'info').mockImplementation(() => undefined);
    expect(corpusForSuite('rollout over the corpus')).toBeUndefined();
    expect(info).toHaveBeenCalledWith(expect.stringMatching(/^rollout over the corpus: skipped, EGRESSCTL_CORPUS is not set/));
  });

  it('is silent and gives the workflows folder when it is set', () => {
    process.env[CORPUS_ENV] = '/srv/corpus';
    const info = vi.spyOn(console, 'info').mockImplementation(() => undefined);
    expect(corpusForSuite('rollout over the corpus')).toBe('/srv/corpus/workflows');
    expect(info).not.toHaveBeenCalled();
  });
});
