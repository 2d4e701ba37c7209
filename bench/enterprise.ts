/**
 * A synthetic enterprise policy repository (deterministic): organizations, repositories,
 * workflow attachments and policies of ~40 endpoints, as files in memory.
 */
export interface EnterpriseShape {
  organizations: number;
  repositories: number;
  workflows: number;
  policies: number;
  endpointsPerPolicy: number;
}

export const BASE_ENTERPRISE: EnterpriseShape = {
  organizations: 20,
  repositories: 5_000,
  workflows: 20_000,
  policies: 2_000,
  endpointsPerPolicy: 40,
};

export function scaled(shape: EnterpriseShape, factor: number): EnterpriseShape {
  return {
    organizations: shape.organizations * factor,
    repositories: shape.repositories * factor,
    workflows: shape.workflows * factor,
    policies: shape.policies * factor,
    endpointsPerPolicy: shape.endpointsPerPolicy,
  };
}

/** Small deterministic PRNG so every run builds the same enterprise. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

export interface Enterprise {
  shape: EnterpriseShape;
  files: Map<string, Buffer>;
  organizations: string[];
  repositories: string[];
  workflows: string[];
  policyNames: string[];
  bytes: number;
}

export function generateEnterprise(shape: EnterpriseShape = BASE_ENTERPRISE): Enterprise {
  const random = prng(42);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  const files = new Map<string, Buffer>();
  const organizations = Array.from({ length: shape.organizations }, (_, index) => `org-${index}`);
  const repositories = Array.from({ length: shape.repositories }, (_, index) => `${organizations[index % organizations.length]}/repo-${index}`);
  const workflows = Array.from(
    { length: shape.workflows },
    (_, index) => `${repositories[index % repositories.length]}/.github/workflows/wf-${Math.floor(index / repositories.length)}.yml`,
  );
  const services = ['registry.npmjs.org', 'proxy.golang.org', 'pypi.org', 'files.pythonhosted.org', 'ghcr.io', 'docker.io', 'repo.maven.apache.org'];
  const policyNames = Array.from({ length: shape.policies }, (_, index) => `policy-${index}`);
  policyNames.forEach((name, index) => {
    const lines = ['# yaml-language-server: $schema=../schemas/policy.schema.json', `description: generated policy ${index}`];
    lines.push(`egress-policy: ${index % 10 === 0 ? 'audit' : 'block'}`);
    // A tenth of the policies extend a shared base, as real repositories do.
    if (index > 0 && index % 10 === 1) lines.push('extends: policy-0');
    lines.push('allowed-endpoints:');
    for (let endpoint = 0; endpoint < shape.endpointsPerPolicy; endpoint++) {
      const host = endpoint < services.length ? (services[endpoint] as string) : `svc-${Math.floor(random() * 5000)}.corp-${index % 50}.example.com`;
      lines.push(endpoint % 5 === 0 ? `  - endpoint: ${host}:443\n    reason: generated` : `  - ${host}${endpoint % 3 === 0 ? ':8443' : ''}`);
    }
    files.set(`policies/${name}.yml`, Buffer.from(`${lines.join('\n')}\n`));
  });
  const attachments = ['# yaml-language-server: $schema=./schemas/attachments.schema.json', 'clusters:', '  arc-prod: policy-0', 'organizations:'];
  for (const org of organizations) attachments.push(`  ${org}: ${pick(policyNames)}`);
  attachments.push('repositories:');
  for (const repository of repositories) attachments.push(`  ${repository}: ${pick(policyNames)}`);
  attachments.push('workflows:');
  for (const workflow of workflows) attachments.push(`  ${workflow}: ${pick(policyNames)}`);
  files.set('attachments.yml', Buffer.from(`${attachments.join('\n')}\n`));
  let bytes = 0;
  for (const content of files.values()) bytes += content.byteLength;
  return { shape, files, organizations, repositories, workflows, policyNames, bytes };
}
