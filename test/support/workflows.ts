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
