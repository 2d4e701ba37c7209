import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { filePublisher } from '../../src/app/publish.js';
import { buildBundle, serializeBundle } from '../../src/bundle/build.js';
import { openBundle, sealBundle, serializeEnvelope } from '../../src/bundle/dsse.js';
import { emptyAttachmentMap } from '../../src/policy/model.js';

function envelope(revision: string, committedAt: string): string {
  const bundle = buildBundle({ revision, committedAt, policies: { audit: { name: 'audit', 'egress-policy': 'audit', 'allowed-endpoints': [] } }, attachments: emptyAttachmentMap() });
  return serializeEnvelope(sealBundle(serializeBundle(bundle)));
}

const A = 'a'.repeat(40);
const B = 'b'.repeat(40);

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'egressctl-publish-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('filePublisher', () => {
  it('writes the first bundle, then only descendants; the same revision changes nothing', async () => {
    const file = path.join(dir, 'out', 'bundle.dsse.json');
    const publisher = filePublisher(file);
    expect(await publisher.current()).toBeUndefined();
    expect(await publisher.publish(envelope(A, '2026-01-01T00:00:00Z'), {})).toMatchObject({ status: 'accepted', revision: A });
    expect(openBundle(await readFile(file, 'utf8')).bundle.revision).toBe(A);
    expect(await publisher.current()).toBe(A);

    expect(await publisher.publish(envelope(A, '2026-01-01T00:00:00Z'), {})).toEqual({ status: 'unchanged', revision: A });
    // Not a descendant (even though newer): refused, the file keeps A.
    const asked: string[] = [];
    const refused = await publisher.publish(envelope(B, '2026-02-01T00:00:00Z'), { isDescendant: async (published) => (asked.push(published), false) });
    expect(refused).toMatchObject({ status: 'refused', reason: 'older' });
    expect(asked).toEqual([A]);
    expect(await publisher.current()).toBe(A);
    // Unknown ancestry: the commit date decides.
    expect(await publisher.publish(envelope(B, '2025-12-01T00:00:00Z'), { isDescendant: async () => undefined })).toMatchObject({ status: 'refused', reason: 'older' });
    expect(await publisher.publish(envelope(B, '2026-02-01T00:00:00Z'), { isDescendant: async () => true })).toMatchObject({ status: 'accepted', revision: B });
    expect(await publisher.current()).toBe(B);
  });

  it('refuses what is not a valid bundle and replaces a damaged file', async () => {
    const file = path.join(dir, 'bundle.dsse.json');
    const publisher = filePublisher(file);
    expect(await publisher.publish('{"payloadType":"x"}', {})).toMatchObject({ status: 'refused', reason: 'verification' });
    await writeFile(file, 'garbage');
    expect(await publisher.current()).toBeUndefined();
    expect(await publisher.publish(envelope(A, '2026-01-01T00:00:00Z'), {})).toMatchObject({ status: 'accepted' });
  });
});
