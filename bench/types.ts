/** One section of BENCHMARKS.md. */
export interface BenchSection {
  title: string;
  markdown: string;
}
