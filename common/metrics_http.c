/*
 * common/metrics_http.c - the /metrics endpoint (metrics_http.h), on
 * libmicrohttpd's internal polling thread.
 */
#include "common/metrics_http.h"

#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "common/log.h"

/* Bounds: a scraper that stalls is dropped, and a flood cannot exhaust descriptors. */
#define HTTP_CONN_TIMEOUT_S 10
#define HTTP_MAX_CONNECTIONS 64

/*
 * The published text is kept as a ready response: libmicrohttpd counts the
 * references of a response, so each request queues the same one (no copy,
 * no allocation of the text's size), and one that is replaced lives on
 * until the last request that queued it is sent.
 */
struct PgcMetricsHttp {
	struct MHD_Daemon *daemon;
	pthread_mutex_t lock;
	struct MHD_Response *current; /* under lock; NULL until the first publish */
};

int metrics_http_parse_listen(const char *listen, char *host, size_t hostlen, int *port)
{
	const char *colon = listen ? strrchr(listen, ':') : NULL;
	const char *h = listen;
	size_t n;
	char *end;
	long p;

	if (colon == NULL || colon[1] == '\0')
		return -1;
	n = (size_t)(colon - listen);
	if (n >= 2 && h[0] == '[' && h[n - 1] == ']') {
		h++;
		n -= 2;
	} else if (memchr(h, ':', n) != NULL) {
		return -1; /* an IPv6 address needs its brackets */
	}
	if (n >= hostlen)
		return -1;
	errno = 0;
	p = strtol(colon + 1, &end, 10);
	if (errno != 0 || *end != '\0' || p < 1 || p > 65535)
		return -1;
	memcpy(host, h, n);
	host[n] = '\0';
	*port = (int)p;
	return 0;
}

static enum MHD_Result answer_text(struct MHD_Connection *c, unsigned status, const char *msg)
{
	struct MHD_Response *r =
		MHD_create_response_from_buffer(strlen(msg), (void *)msg, MHD_RESPMEM_PERSISTENT);
	enum MHD_Result rc;

	if (r == NULL)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
	rc = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return rc;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_size, void **req_cls)
{
	PgcMetricsHttp *s = cls;
	enum MHD_Result rc = MHD_NO;
	bool published;

	(void)version;
	(void)upload;
	(void)req_cls;
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return answer_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET and HEAD\n");
	if (*upload_size != 0)
		return MHD_NO;
	if (strcmp(url, "/metrics") != 0)
		return answer_text(c, MHD_HTTP_NOT_FOUND, "not found: try /metrics\n");
	pthread_mutex_lock(&s->lock);
	/* Queued under the lock: a publish cannot drop the response in between. */
	published = s->current != NULL;
	if (published)
		rc = MHD_queue_response(c, MHD_HTTP_OK, s->current);
	pthread_mutex_unlock(&s->lock);
	if (!published)
		return answer_text(c, MHD_HTTP_SERVICE_UNAVAILABLE,
				   "no observation yet: the first reconcile pass is running\n");
	return rc;
}

PgcMetricsHttp *metrics_http_start(const char *listen)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE}, *ai = NULL;
	char host[256], port_s[16];
	PgcMetricsHttp *s;
	unsigned flags = MHD_USE_AUTO | MHD_USE_INTERNAL_POLLING_THREAD;
	int port, rc;

	if (metrics_http_parse_listen(listen, host, sizeof host, &port) != 0) {
		log_error("invalid metrics address \"%s\": expected ADDR:PORT", listen);
		return NULL;
	}
	snprintf(port_s, sizeof port_s, "%d", port);
	rc = getaddrinfo(host[0] ? host : NULL, port_s, &hints, &ai);
	if (rc != 0) {
		log_error("could not resolve metrics address \"%s\": %s", listen, gai_strerror(rc));
		return NULL;
	}
	s = calloc(1, sizeof *s);
	if (s == NULL)
		abort();
	pthread_mutex_init(&s->lock, NULL);
	if (ai->ai_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	errno = 0;
	s->daemon = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, on_request, s,
				     MHD_OPTION_SOCK_ADDR, ai->ai_addr,
				     MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)HTTP_CONN_TIMEOUT_S,
				     MHD_OPTION_CONNECTION_LIMIT, (unsigned)HTTP_MAX_CONNECTIONS,
				     MHD_OPTION_END);
	freeaddrinfo(ai);
	if (s->daemon == NULL) {
		/* libmicrohttpd says no more; bind() failing is by far the usual cause. */
		log_error("could not listen on \"%s\" for /metrics: %s\n"
			  "hint: is the port taken by another program?",
			  listen, errno ? strerror(errno) : "unknown error");
		pthread_mutex_destroy(&s->lock);
		free(s);
		return NULL;
	}
	log_info("serving metrics on http://%s/metrics", listen);
	return s;
}

void metrics_http_publish(PgcMetricsHttp *s, char *text, size_t len)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
	struct MHD_Response *old;

	if (r == NULL) {
		/* Out of memory: the last text stays. */
		free(text);
		return;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
				"text/plain; version=0.0.4; charset=utf-8");
	pthread_mutex_lock(&s->lock);
	old = s->current;
	s->current = r;
	pthread_mutex_unlock(&s->lock);
	if (old != NULL)
		MHD_destroy_response(old);
}

void metrics_http_stop(PgcMetricsHttp *s)
{
	if (s == NULL)
		return;
	MHD_stop_daemon(s->daemon);
	if (s->current != NULL)
		MHD_destroy_response(s->current);
	pthread_mutex_destroy(&s->lock);
	free(s);
}
