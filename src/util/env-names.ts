/**
 * Settings of the command-line entry points (`serve`, `hook`) come from a flag or its environment
 * variable: `--oidc-audience` is EGRESSCTL_OIDC_AUDIENCE. The variable's name is derived here,
 * once; library code takes options and reads no environment.
 */
export function envName(flag: string): string {
  return `EGRESSCTL_${flag.replace(/-/g, '_').toUpperCase()}`;
}

/** The environment variable of `flag`, as it is set (an empty value included). */
export function envSetting(env: Readonly<Record<string, string | undefined>>, flag: string): string | undefined {
  return env[envName(flag)];
}
