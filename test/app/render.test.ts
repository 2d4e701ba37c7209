import MarkdownIt from 'markdown-it';
import type Token from 'markdown-it/lib/token.mjs';
import { describe, expect, it } from 'vitest';
import type { Diagnostic } from '../../src/policy/diagnostics.js';
import type { Attachment, Policy } from '../../src/policy/model.js';
import { renderMarkdown, reviewChange } from '../../src/review/index.js';
import {
  REVIEW_MARKER,
  annotationsFor,
  batches,
  notCompiledOutput,
  reviewCommentBody,
  syncFailedOutput,
  validateCheckOutput,
} from '../../src/app/render.js';
import { markdownProblems, memoryAttachment, memoryPolicy } from '../support/review.js';

const HEAD = 'a'.repeat(40);
const BASE = 'b'.repeat(40);

function diagnostic(severity: 'error' | 'warning', line: number, message = `problem at ${line}`): Diagnostic {
  return { code: severity === 'error' ? 'endpoint/scheme' : 'endpoint/duplicate', severity, message, file: 'policies/base.yml', line, column: 5 };
}

/** A change big enough that the full rendering is far over GitHub's limit. */
function bigReview() {
  const names = Array.from({ length: 300 }, (_, index) => `policy-${index}`);
  const endpoints = (index: number, shift: number) => Array.from({ length: 30 }, (_, slot) => `svc-${(index * 7 + slot + shift) % 2000}.corp.example.com:443`);
  const base = new Map<string, Policy>(names.map((name, index) => [name, memoryPolicy(name, { mode: 'audit', endpoints: endpoints(index, 0) })]));
  const head = new Map<string, Policy>(names.map((name, index) => [name, memoryPolicy(name, { mode: 'block', endpoints: endpoints(index, 5) })]));
  const repositories = Array.from({ length: 3_000 }, (_, index) => `org-${index % 10}/repository-${index}`);
  const baseAttachments: Attachment[] = repositories.map((repository, index) => memoryAttachment('repository', repository, names[index % 300]!));
  const headAttachments: Attachment[] = repositories.map((repository, index) => memoryAttachment('repository', repository, names[(index + 1) % 300]!));
  return reviewChange({ label: 'main', policies: base, attachments: baseAttachments }, { label: 'head', policies: head, attachments: headAttachments });
}

describe('annotations', () => {
  it('puts errors first, caps the count and maps severities to annotation levels', () => {
    const annotations = annotationsFor([diagnostic('error', 9)], [diagnostic('warning', 2), diagnostic('warning', 3)], 2);
    expect(annotations).toEqual([
      { path: 'policies/base.yml', start_line: 9, end_line: 9, annotation_level: 'failure', message: 'problem at 9 (column 5)', title: 'endpoint/scheme' },
      { path: 'policies/base.yml', start_line: 2, end_line: 2, annotation_level: 'warning', message: 'problem at 2 (column 5)', title: 'endpoint/duplicate' },
    ]);
  });

  it('splits into requests of at most 50', () => {
    expect(batches(Array.from({ length: 120 }, (_, index) => index)).map((group) => group.length)).toEqual([50, 50, 20]);
    expect(batches([])).toEqual([]);
  });
});

describe('check outputs', () => {
  it('fails on errors, passes a warning-only change', () => {
    const review = bigReview();
    const failing = validateCheckOutput({ errors: [diagnostic('error', 4)], warnings: [], review, headSha: HEAD, baseSha: BASE, maxAnnotations: 250 });
    expect(failing).toMatchObject({ conclusion: 'failure', title: 'Not valid: 1 error' });
    const warned = validateCheckOutput({ errors: [], warnings: [diagnostic('warning', 4)], review, headSha: HEAD, baseSha: BASE, maxAnnotations: 250 });
    expect(warned.conclusion).toBe('success');
    expect(warned.title).toMatch(/^Valid \(1 warning\): 300 policies changed/);
    expect(warned.annotations).toHaveLength(1);
  });

  it('stays under 65,535 characters with whole rows, however many and long the findings', () => {
    const long = 'x'.repeat(20_000);
    const errors = Array.from({ length: 5_000 }, (_, index) => diagnostic('error', index + 1, `${long} | <b>${index}</b>`));
    const output = validateCheckOutput({ errors, warnings: [], review: bigReview(), headSha: HEAD, baseSha: BASE, maxAnnotations: 250 });
    expect(output.summary.length).toBeLessThanOrEqual(65_535);
    expect(output.annotations).toHaveLength(250);
    expect(output.annotations.every((annotation) => annotation.message.length <= 4_000)).toBe(true);
    const rows = output.summary.split('\n').filter((line) => line.startsWith('| ❌'));
    expect(rows.length).toBeGreaterThan(10);
    expect(rows.every((row) => row.endsWith(' |') && !row.includes('<b>'))).toBe(true);
    expect(output.summary).toMatch(/[\d,]+ more findings not listed here\. 250 findings annotated/);
    expect(notCompiledOutput(HEAD, errors, [], BASE, 250).summary.length).toBeLessThanOrEqual(65_535);
  });
});

describe('reviewCommentBody', () => {
  it('starts with the marker and stays under 65,536 characters for a huge change', () => {
    const review = bigReview();
    expect(renderMarkdown(review, { maxLength: Number.MAX_SAFE_INTEGER }).length).toBeGreaterThan(65_536);
    const body = reviewCommentBody({ review, headSha: HEAD, baseSha: BASE, errors: 2, warnings: 1, checkUrl: 'https://github.com/acme/p/runs/1' });
    expect(body.startsWith(`${REVIEW_MARKER}\n### egressctl review\n`)).toBe(true);
    expect(body.length).toBeLessThanOrEqual(65_536);
    expect(body.length).toBeGreaterThan(20_000);
    expect(markdownProblems(body)).toEqual([]);
    expect(body).toContain('This change does not validate: 2 errors, 1 warning');
    expect(body).toContain('[egressctl / validate](https://github.com/acme/p/runs/1)');
    expect(body).toContain(`\`egressctl diff ${BASE.slice(0, 12)} ${HEAD.slice(0, 12)} --format json\``);
    expect(reviewCommentBody({ review, headSha: HEAD, baseSha: BASE, errors: 0, warnings: 0, maxLength: 5_000 }).length).toBeLessThanOrEqual(5_000);
  });
});

describe('reviewCommentBody as CommonMark', () => {
  /** Top-level blocks of the rendered comment: [type, text] of each block token at nesting level 0. */
  function topLevel(markdown: string): { type: string; text: string }[] {
    const tokens = new MarkdownIt({ html: true }).parse(markdown, {});
    const blocks: { type: string; text: string }[] = [];
    for (let index = 0; index < tokens.length; index++) {
      const token = tokens[index] as Token;
      if (token.level !== 0 || token.nesting === -1) continue;
      const inline = token.type === 'paragraph_open' ? (tokens[index + 1] as Token).content : token.content;
      blocks.push({ type: token.type, text: inline });
    }
    return blocks;
  }

  const review = reviewChange(
    { label: 'main', policies: new Map([['p', memoryPolicy('p', { mode: 'audit', endpoints: ['a.example.com:443'] })]]), attachments: [] },
    { label: 'head', policies: new Map([['p', memoryPolicy('p', { mode: 'audit', endpoints: ['b.example.com:443'] })]]), attachments: [] },
  );

  it.each([
    ['errors', 2, 0, '[!CAUTION]'],
    ['warnings only', 0, 1, '[!NOTE]'],
    ['nothing to report', 0, 0, undefined],
  ] as const)('puts the headline in a paragraph of its own after the banner (%s)', (_label, errors, warnings, alert) => {
    const body = reviewCommentBody({ review, headSha: HEAD, baseSha: BASE, errors, warnings });
    const blocks = topLevel(body);
    const headline = blocks.findIndex((block) => block.type === 'paragraph_open' && block.text === `**${review.summary.text}**`);
    expect(headline, JSON.stringify(blocks, null, 1)).toBeGreaterThan(0);
    const quote = blocks.findIndex((block) => block.type === 'blockquote_open');
    if (alert === undefined) {
      expect(quote).toBe(-1);
      return;
    }
    expect(quote).toBeGreaterThan(-1);
    expect(quote).toBeLessThan(headline);
    // The quote holds the banner and nothing of the review.
    const tokens = new MarkdownIt().parse(body, {});
    const open = tokens.findIndex((token) => token.type === 'blockquote_open');
    const close = tokens.findIndex((token) => token.type === 'blockquote_close');
    const inside = tokens.slice(open, close).filter((token) => token.type === 'inline').map((token) => token.content);
    expect(inside.join('\n')).toContain(alert);
    expect(inside.join('\n')).not.toContain(review.summary.text);
  });
});

describe('syncFailedOutput', () => {
  const published = { conclusion: 'success' as const, title: 'Published', summary: 'the publish summary', annotations: [] };
  const failOpen = {
    target: 'acme/api .github/workflows/release.yml:4 job test',
    reason: `FAILS OPEN: audit through retained EGRESSCTL_POLICY (repository variable of acme/api, holding policy api-audit) where the store says block (policy release-block); without it the step would get block with 1 endpoint; ${'the workflow file on the default branch falls back through that variable '.repeat(3)}end of reason`,
    retry: false as const,
  };
  const failedRepository = { target: 'acme/web', reason: 'Server Error' };

  it('says which failures are retried: a job failing open by its workflow file is not, the others are', () => {
    const mixed = syncFailedOutput(published, HEAD, [failedRepository, failOpen]);
    expect(mixed.conclusion).toBe('failure');
    expect(mixed.summary).toContain('failed** for 2 repositories, variables or jobs. The others are retried with backoff');
    expect(mixed.summary).toContain('A job that fails open by its workflow file is not retried');
    const alone = syncFailedOutput(published, HEAD, [failOpen]);
    expect(alone.summary).not.toContain('retried with backoff');
    expect(alone.summary).toContain('is not retried');
    const retried = syncFailedOutput(published, HEAD, [failedRepository]);
    expect(retried.summary).toContain('Each is retried with backoff');
    expect(retried.summary).not.toContain('not retried');
  });

  it('keeps a fail-open row whole: where, why and what ends it (past the 200 characters of an ordinary cell)', () => {
    const output = syncFailedOutput(published, HEAD, [failOpen]);
    const row = output.summary.split('\n').find((line) => line.startsWith('| acme/api .github/workflows/release.yml:4 job test |'));
    expect(failOpen.reason.length).toBeGreaterThan(400);
    expect(row?.replace(/\\(.)/g, '$1')).toContain('end of reason |');
  });
});
