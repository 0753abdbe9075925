/*
 * common/metrics_http.h - a Prometheus /metrics endpoint (libmicrohttpd)
 * that serves the last text it was given.
 *
 * The server answers from its own thread and never waits for whoever
 * produces the text: metrics_http_publish() makes the text a response and
 * swaps it in under a mutex; a request queues that response (reference
 * counted by libmicrohttpd: no copy) under the same mutex. GET or HEAD of
 * /metrics gives 200 with the text (text/plain; version=0.0.4), or 503
 * until a first text is published; any other path 404; other methods 405.
 *
 * Sockets are close-on-exec (libmicrohttpd's own), so the programs the
 * caller starts (servers, poolers) never inherit the listening socket.
 */
#ifndef PGC_COMMON_METRICS_HTTP_H
#define PGC_COMMON_METRICS_HTTP_H

#include <stddef.h>

typedef struct PgcMetricsHttp PgcMetricsHttp;

/*
 * metrics_http_parse_listen - "ADDR:PORT" ("127.0.0.1:9187", "[::1]:9187",
 * "localhost:9187"; ":9187" for every address) into host (an empty string
 * for every address) and port (1..65535). 0, or -1 when malformed.
 */
int metrics_http_parse_listen(const char *listen, char *host, size_t hostlen, int *port);

/*
 * metrics_http_start - listens on listen (as metrics_http_parse_listen
 * reads it). NULL after reporting why (log_error: the address does not
 * resolve, the port is taken ...).
 */
PgcMetricsHttp *metrics_http_start(const char *listen);

/* metrics_http_publish - text (malloc'd, len bytes) becomes what /metrics answers; takes it. */
void metrics_http_publish(PgcMetricsHttp *s, char *text, size_t len);

/* metrics_http_stop - stops listening, waits for the requests in progress, frees s (NULL: nothing). */
void metrics_http_stop(PgcMetricsHttp *s);

#endif
