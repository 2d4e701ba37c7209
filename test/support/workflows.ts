/** Small workflow files shared by tests that need "a repository with a CI workflow". */

/** One Linux job with two steps and no Harden-Runner: every rollout hardens it. */
export const SIMPLE_WORKFLOW = `name: CI
on: [push]
jobs:
  test:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: npm test
`;

/** One Linux job that already runs Harden-Runner in audit mode: its completed runs feed baselines. */
export const AUDIT_WORKFLOW = `name: CI
on: [push]
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - name: Harden-Runner
        uses: step-security/harden-runner@05e31511f85b41b11d1cf0ef85d0992719546e2c # v2.21.0
        with:
          egress-policy: audit
      - run: npm test
`;

/** The `steps` of a completed AUDIT_WORKFLOW job as the Actions API lists them. */
export const AUDIT_JOB_STEPS = [{ name: 'Harden-Runner', status: 'completed', conclusion: 'success', number: 1 }];
