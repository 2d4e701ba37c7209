/**
 * Actions variables (organization and repository) for the stand-in, checked against the OpenAPI
 * description like every operation: create (201; 409 when the name exists), update and delete
 * (204; 404 when missing), get and list. GitHub's rules are enforced with its answers: name
 * (letters, digits, `_`, not starting with a digit or `GITHUB_`; case-insensitive, stored
 * upper-case), value at most 48 KB, at most 1,000 organization and 500 repository variables.
 * Organization routes name no repository, so the permission check
 * (`organization_actions_variables`) is done here; repository routes declare `actions_variables`.
 */
import { GitHubApiError, type HandlerContext, type HandlerSpec, type Reply } from './handlers.js';
import { nowIso, permits, type World } from './world.js';

export interface VariableRecord {
  name: string;
  value: string;
  createdAt: string;
  updatedAt: string;
  /** Organization variables only. */
  visibility?: 'all' | 'private' | 'selected';
  selectedRepositoryIds?: number[];
}

const MAX_VALUE_BYTES = 48 * 1024;
const MAX_PER_ORGANIZATION = 1000;
const MAX_PER_REPOSITORY = 500;

/** `org:<login>` or `repo:<owner/name>`, lower-cased. */
export function variableScope(level: 'organization' | 'repository', target: string): string {
  return `${level === 'organization' ? 'org' : 'repo'}:${target.toLowerCase()}`;
}

const store = new WeakMap<World, Map<string, Map<string, VariableRecord>>>();

export function variablesOf(world: World, scope: string): Map<string, VariableRecord> {
  let all = store.get(world);
  if (!all) {
    all = new Map();
    store.set(world, all);
  }
  let found = all.get(scope);
  if (!found) {
    found = new Map();
    all.set(scope, found);
  }
  return found;
}

function reply(status: number, body?: unknown): Reply {
  return { status, body };
}

function scopeOf(ctx: HandlerContext): { scope: string; limit: number; organization: boolean } {
  if (ctx.params.org !== undefined) {
    const org = ctx.params.org.toLowerCase();
    const write = ctx.operation.method.toUpperCase() !== 'GET';
    if (ctx.principal.kind !== 'token') throw new GitHubApiError(401, 'Requires authentication');
    const token = ctx.principal.token;
    if (token.kind === 'installation') {
      const installation = token.installationId === undefined ? undefined : ctx.world.installations.get(token.installationId);
      if (!installation || installation.account.login.toLowerCase() !== org) throw new GitHubApiError(404, 'Not Found');
      if (!permits(token.permissions, 'organization_actions_variables', write ? 'write' : 'read')) throw new GitHubApiError(403, 'Resource not accessible by integration');
    }
    return { scope: variableScope('organization', org), limit: MAX_PER_ORGANIZATION, organization: true };
  }
  const repo = ctx.repo;
  if (!repo) throw new GitHubApiError(404, 'Not Found');
  return { scope: variableScope('repository', repo.fullName), limit: MAX_PER_REPOSITORY, organization: false };
}

function json(ctx: HandlerContext, record: VariableRecord, organization: boolean): Record<string, unknown> {
  return {
    name: record.name,
    value: record.value,
    created_at: record.createdAt,
    updated_at: record.updatedAt,
    ...(organization
      ? {
          visibility: record.visibility ?? 'all',
          ...(record.visibility === 'selected' ? { selected_repositories_url: ctx.world.apiUrl(`/orgs/${ctx.params.org}/actions/variables/${record.name}/repositories`) } : {}),
        }
      : {}),
  };
}

function checkName(name: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name) || /^GITHUB_/i.test(name)) {
    throw new GitHubApiError(422, 'Invalid name. Names can only contain alphanumeric characters or underscores, must not start with a number, and must not start with GITHUB_.');
  }
  return name.toUpperCase();
}

function checkValue(value: unknown): string {
  const text = String(value ?? '');
  if (Buffer.byteLength(text, 'utf8') > MAX_VALUE_BYTES) throw new GitHubApiError(422, 'Value is too large: variables are limited to 48 KB.');
  return text;
}

const list = (ctx: HandlerContext): Promise<Reply> => {
  const { scope, organization } = scopeOf(ctx);
  const all = [...variablesOf(ctx.world, scope).values()].sort((a, b) => (a.name < b.name ? -1 : 1));
  const perPage = Math.min(30, Math.max(1, Number(ctx.query.get('per_page') ?? 10) || 10));
  const page = Math.max(1, Number(ctx.query.get('page') ?? 1) || 1);
  const items = all.slice((page - 1) * perPage, page * perPage);
  return Promise.resolve(reply(200, { total_count: all.length, variables: items.map((record) => json(ctx, record, organization)) }));
};

const get = (ctx: HandlerContext): Promise<Reply> => {
  const { scope, organization } = scopeOf(ctx);
  const record = variablesOf(ctx.world, scope).get(ctx.params.name!.toUpperCase());
  if (!record) throw new GitHubApiError(404, 'Not Found');
  return Promise.resolve(reply(200, json(ctx, record, organization)));
};

const create = (ctx: HandlerContext): Promise<Reply> => {
  const { scope, limit, organization } = scopeOf(ctx);
  const variables = variablesOf(ctx.world, scope);
  const name = checkName(String(ctx.body.name));
  const value = checkValue(ctx.body.value);
  if (variables.has(name)) throw new GitHubApiError(409, 'Already exists - Variable already exists');
  if (variables.size >= limit) throw new GitHubApiError(422, `Too many variables: at most ${limit} at this level.`);
  const at = nowIso();
  variables.set(name, {
    name,
    value,
    createdAt: at,
    updatedAt: at,
    ...(organization ? { visibility: ctx.body.visibility as VariableRecord['visibility'] } : {}),
    ...(Array.isArray(ctx.body.selected_repository_ids) ? { selectedRepositoryIds: ctx.body.selected_repository_ids as number[] } : {}),
  });
  return Promise.resolve(reply(201, {}));
};

const update = (ctx: HandlerContext): Promise<Reply> => {
  const { scope, organization } = scopeOf(ctx);
  const variables = variablesOf(ctx.world, scope);
  const key = ctx.params.name!.toUpperCase();
  const record = variables.get(key);
  if (!record) throw new GitHubApiError(404, 'Not Found');
  if (ctx.body.value !== undefined) record.value = checkValue(ctx.body.value);
  if (organization && ctx.body.visibility !== undefined) record.visibility = ctx.body.visibility as VariableRecord['visibility'];
  if (ctx.body.name !== undefined) {
    const renamed = checkName(String(ctx.body.name));
    if (renamed !== key) {
      if (variables.has(renamed)) throw new GitHubApiError(409, 'Already exists - Variable already exists');
      variables.delete(key);
      record.name = renamed;
      variables.set(renamed, record);
    }
  }
  record.updatedAt = nowIso();
  return Promise.resolve({ status: 204 });
};

const remove = (ctx: HandlerContext): Promise<Reply> => {
  const { scope } = scopeOf(ctx);
  if (!variablesOf(ctx.world, scope).delete(ctx.params.name!.toUpperCase())) throw new GitHubApiError(404, 'Not Found');
  return Promise.resolve({ status: 204 });
};

export const VARIABLE_HANDLERS: Record<string, HandlerSpec> = {
  'actions/list-org-variables': { run: list },
  'actions/get-org-variable': { run: get },
  'actions/create-org-variable': { run: create },
  'actions/update-org-variable': { run: update },
  'actions/delete-org-variable': { run: remove },
  'actions/list-repo-variables': { permission: 'actions_variables', run: list },
  'actions/get-repo-variable': { permission: 'actions_variables', run: get },
  'actions/create-repo-variable': { permission: 'actions_variables', run: create },
  'actions/update-repo-variable': { permission: 'actions_variables', run: update },
  'actions/delete-repo-variable': { permission: 'actions_variables', run: remove },
};
