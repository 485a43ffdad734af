/** The server's Prometheus metrics (its own registry, so several apps can live in one process). */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

export function createMetrics(queued: () => number) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'gradcam_' }); // process memory (RSS, heap), CPU, event-loop lag
  return {
    registry,
    requests: new Counter({ name: 'gradcam_http_requests_total', help: 'HTTP requests by route, method and status', labelNames: ['route', 'method', 'status'], registers: [registry] }),
    errors: new Counter({ name: 'gradcam_http_errors_total', help: 'HTTP responses with status >= 400 by route and status', labelNames: ['route', 'status'], registers: [registry] }),
    latency: new Histogram({
      name: 'gradcam_http_request_duration_seconds', help: 'HTTP request latency by route', labelNames: ['route'], registers: [registry],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    }),
    inFlight: new Gauge({ name: 'gradcam_http_in_flight', help: 'HTTP requests being handled', registers: [registry] }),
    rejected: new Counter({ name: 'gradcam_http_rejected_total', help: 'requests answered 429 because the queue was full', registers: [registry] }),
    queued: new Gauge({ name: 'gradcam_queue_admitted', help: 'explain/classify requests admitted (waiting or running)', registers: [registry], collect() { this.set(queued()); } }),
  };
}
