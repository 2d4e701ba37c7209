/** The part of autocannon's API bench/server.ts uses (the package ships no type declarations). */
declare module 'autocannon' {
  export interface AutocannonRequest {
    method?: string;
    path?: string;
    headers?: Record<string, string>;
    setupRequest?: (request: Record<string, unknown>, context: Record<string, unknown>) => Record<string, unknown>;
  }
  export interface AutocannonOptions {
    url: string;
    connections?: number;
    pipelining?: number;
    duration?: number;
    amount?: number;
    overallRate?: number;
    requests?: AutocannonRequest[];
  }
  interface Histogram {
    average: number;
    total: number;
    p50: number;
    p99: number;
  }
  export interface AutocannonResult {
    requests: Histogram;
    latency: Histogram;
    /** Elapsed seconds (two decimals). */
    duration: number;
    non2xx: number;
    errors: number;
  }
  interface AutocannonInstance {
    on(event: 'response', listener: () => void): AutocannonInstance;
  }
  function autocannon(options: AutocannonOptions): Promise<AutocannonResult>;
  function autocannon(options: AutocannonOptions, callback: (error: Error | null, result: AutocannonResult) => void): AutocannonInstance;
  export default autocannon;
}
