/*
 * common/log.c - the logger: level filter, text or JSON lines, one mutex.
 */
#include "common/log.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/strutil.h"

#define COLOR_RESET "\033[0m"

static pthread_mutex_t log_mutex = PTHREAD_MUTEX_INITIALIZER;
/* Read without the mutex by log_enabled(), hence atomic. */
static atomic_int log_level = LOG_INFO;
static PgcLogFormat log_format = LOG_FORMAT_TEXT;
static bool log_color;
static int log_timestamps = -1; /* -1: decided from isatty() on first use */
static FILE *log_out;           /* NULL: stderr */
static FILE *log_capture;
static char *log_capture_buf;
static size_t log_capture_len;

/* A growable string; allocation failure aborts like the arena does. */
struct sbuf {
	char *s;
	size_t len;
	size_t cap;
};

static void sb_grow(struct sbuf *b, size_t more)
{
	size_t cap;
	char *s;

	if (b->len + more + 1 <= b->cap)
		return;
	cap = b->cap ? b->cap : 256;
	while (cap < b->len + more + 1)
		cap *= 2;
	s = realloc(b->s, cap);
	if (s == NULL)
		abort();
	b->s = s;
	b->cap = cap;
}

static void sb_addn(struct sbuf *b, const char *s, size_t n)
{
	sb_grow(b, n);
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

static void sb_add(struct sbuf *b, const char *s)
{
	sb_addn(b, s, strlen(s));
}

static void sb_addc(struct sbuf *b, char c)
{
	sb_addn(b, &c, 1);
}

void log_set_level(PgcLogLevel level)
{
	atomic_store(&log_level, (int)level);
}

PgcLogLevel log_get_level(void)
{
	return (PgcLogLevel)atomic_load(&log_level);
}

void log_adjust_level(int delta)
{
	int l = atomic_load(&log_level) + delta;

	if (l < LOG_ERROR)
		l = LOG_ERROR;
	if (l > LOG_DEBUG)
		l = LOG_DEBUG;
	atomic_store(&log_level, l);
}

bool log_enabled(PgcLogLevel level)
{
	return (int)level <= atomic_load(&log_level);
}

void log_set_format(PgcLogFormat format)
{
	pthread_mutex_lock(&log_mutex);
	log_format = format;
	pthread_mutex_unlock(&log_mutex);
}

int log_parse_format(const char *name, PgcLogFormat *format)
{
	if (strcmp(name, "text") == 0)
		*format = LOG_FORMAT_TEXT;
	else if (strcmp(name, "json") == 0)
		*format = LOG_FORMAT_JSON;
	else
		return -1;
	return 0;
}

void log_set_color(bool on)
{
	pthread_mutex_lock(&log_mutex);
	log_color = on;
	pthread_mutex_unlock(&log_mutex);
}

void log_set_timestamps(bool on)
{
	pthread_mutex_lock(&log_mutex);
	log_timestamps = on ? 1 : 0;
	pthread_mutex_unlock(&log_mutex);
}

void log_set_output(FILE *out)
{
	pthread_mutex_lock(&log_mutex);
	log_out = out;
	log_timestamps = -1;
	pthread_mutex_unlock(&log_mutex);
}

void log_capture_begin(void)
{
	pthread_mutex_lock(&log_mutex);
	if (log_capture == NULL) {
		log_capture = open_memstream(&log_capture_buf, &log_capture_len);
		if (log_capture == NULL)
			abort();
	}
	pthread_mutex_unlock(&log_mutex);
}

char *log_capture_end(void)
{
	char *text = NULL;

	pthread_mutex_lock(&log_mutex);
	if (log_capture != NULL) {
		fclose(log_capture);
		text = log_capture_buf;
		log_capture = NULL;
		log_capture_buf = NULL;
		log_capture_len = 0;
	}
	pthread_mutex_unlock(&log_mutex);
	if (text == NULL)
		text = strdup("");
	if (text == NULL)
		abort();
	return text;
}

static const char *const text_names[] = {"error", "warning", "info", "debug"};
static const char *const json_names[] = {"error", "warn", "info", "debug"};
static const char *const colors[] = {"\033[1;31m", "\033[1;33m", "", "\033[2m"};

static void add_timestamp(struct sbuf *b, bool millis)
{
	char buf[CLOCK_UTC_SIZE];

	sb_add(b, clock_utc_now(millis ? CLOCK_UTC_ISO_MS : CLOCK_UTC_ISO, buf, sizeof buf));
}

/* utf8_len - length of a valid UTF-8 sequence at s (at most n bytes), or 0. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	size_t len, i;
	uint32_t cp;

	if (s[0] < 0x80)
		return 1;
	if ((s[0] & 0xe0) == 0xc0) {
		len = 2;
		cp = s[0] & 0x1f;
	} else if ((s[0] & 0xf0) == 0xe0) {
		len = 3;
		cp = s[0] & 0x0f;
	} else if ((s[0] & 0xf8) == 0xf0) {
		len = 4;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	/* Reject overlong forms, surrogates and values past U+10FFFF. */
	if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return len;
}

static void add_json_string(struct sbuf *b, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	sb_addc(b, '"');
	while (i < n) {
		unsigned char c = p[i];
		size_t len;

		switch (c) {
		case '"':
			sb_add(b, "\\\"");
			i++;
			continue;
		case '\\':
			sb_add(b, "\\\\");
			i++;
			continue;
		case '\n':
			sb_add(b, "\\n");
			i++;
			continue;
		case '\r':
			sb_add(b, "\\r");
			i++;
			continue;
		case '\t':
			sb_add(b, "\\t");
			i++;
			continue;
		default:
			break;
		}
		if (c < 0x20 || c == 0x7f) {
			char esc[8];

			snprintf(esc, sizeof(esc), "\\u%04x", c);
			sb_add(b, esc);
			i++;
			continue;
		}
		len = utf8_len(p + i, n - i);
		if (len == 0) {
			sb_add(b, "\xef\xbf\xbd"); /* U+FFFD */
			i++;
		} else {
			sb_addn(b, s + i, len);
			i += len;
		}
	}
	sb_addc(b, '"');
}

/*
 * sb_add_text - n bytes of a message for a terminal: control characters
 * (ESC, CR ...) made visible as str_text does. Messages carry names from
 * the servers; the line breaks of a message are split by the caller.
 */
static void sb_add_text(struct sbuf *b, const char *s, size_t n)
{
	PgcStrBuf t = PGC_STRBUF_INIT;
	char *part = strndup(s, n);

	if (part == NULL)
		abort();
	strbuf_add_text(&t, part);
	if (t.len > 0)
		sb_addn(b, t.data, t.len);
	strbuf_release(&t);
	free(part);
}

/* add_text_value - a field value for text format: bare when it is one word. */
static void add_text_value(struct sbuf *b, const char *v)
{
	const char *p;
	bool bare = *v != '\0' && str_text_clean(v);

	for (p = v; *p != '\0'; p++)
		if (*p == ' ' || *p == '"' || *p == '=' || *p == '\\' || (unsigned char)*p < 0x20)
			bare = false;
	if (bare) {
		sb_add(b, v);
		return;
	}
	sb_addc(b, '"');
	for (p = v; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\') {
			sb_addc(b, '\\');
			sb_addc(b, *p);
		} else if (*p == '\n') {
			sb_add(b, "\\n");
		} else {
			const char *q = p;

			while (q[1] != '\0' && q[1] != '"' && q[1] != '\\' && q[1] != '\n')
				q++;
			sb_add_text(b, p, (size_t)(q - p) + 1);
			p = q;
		}
	}
	sb_addc(b, '"');
}

static void format_text(struct sbuf *b, PgcLogLevel level, const char *const *fields,
			const char *msg, bool stamp, bool color)
{
	const char *line = msg;
	const char *nl;
	size_t i;

	if (stamp) {
		add_timestamp(b, false);
		sb_addc(b, ' ');
	}
	if (color && colors[level][0] != '\0') {
		sb_add(b, colors[level]);
		sb_add(b, text_names[level]);
		sb_add(b, COLOR_RESET);
	} else {
		sb_add(b, text_names[level]);
	}
	sb_add(b, ": ");
	nl = strchr(line, '\n');
	sb_add_text(b, line, nl ? (size_t)(nl - line) : strlen(line));
	for (i = 0; fields != NULL && fields[i] != NULL; i += 2) {
		sb_addc(b, ' ');
		sb_add(b, fields[i]);
		sb_addc(b, '=');
		add_text_value(b, fields[i + 1] ? fields[i + 1] : "");
	}
	sb_addc(b, '\n');
	while (nl != NULL) {
		line = nl + 1;
		nl = strchr(line, '\n');
		sb_add(b, "  ");
		sb_add_text(b, line, nl ? (size_t)(nl - line) : strlen(line));
		sb_addc(b, '\n');
	}
}

static void format_json(struct sbuf *b, PgcLogLevel level, const char *const *fields,
			const char *msg)
{
	const char *hint = strstr(msg, "\nhint: ");
	size_t i;

	sb_add(b, "{\"ts\":\"");
	add_timestamp(b, true);
	sb_add(b, "\",\"level\":\"");
	sb_add(b, json_names[level]);
	sb_add(b, "\",\"msg\":");
	add_json_string(b, msg, hint ? (size_t)(hint - msg) : strlen(msg));
	if (hint != NULL) {
		hint += strlen("\nhint: ");
		sb_add(b, ",\"hint\":");
		add_json_string(b, hint, strlen(hint));
	}
	for (i = 0; fields != NULL && fields[i] != NULL; i += 2) {
		const char *v = fields[i + 1] ? fields[i + 1] : "";

		sb_addc(b, ',');
		add_json_string(b, fields[i], strlen(fields[i]));
		sb_addc(b, ':');
		add_json_string(b, v, strlen(v));
	}
	sb_add(b, "}\n");
}

static void log_write(PgcLogLevel level, const char *const *fields, const char *fmt, va_list ap)
{
	struct sbuf line = {0};
	char *msg = NULL;
	size_t n;
	FILE *out;

	if ((int)level < LOG_ERROR || (int)level > LOG_DEBUG)
		level = LOG_ERROR;
	if (!log_enabled(level))
		return;
	if (vasprintf(&msg, fmt, ap) < 0)
		abort();
	/* A trailing newline would become an empty continuation line. */
	n = strlen(msg);
	while (n > 0 && msg[n - 1] == '\n')
		msg[--n] = '\0';

	pthread_mutex_lock(&log_mutex);
	if (log_capture != NULL) {
		format_text(&line, level, fields, msg, false, false);
		out = log_capture;
	} else {
		out = log_out ? log_out : stderr;
		if (log_format == LOG_FORMAT_JSON) {
			format_json(&line, level, fields, msg);
		} else {
			if (log_timestamps < 0)
				log_timestamps = isatty(fileno(out)) ? 0 : 1;
			format_text(&line, level, fields, msg, log_timestamps == 1, log_color);
		}
	}
	fwrite(line.s, 1, line.len, out);
	fflush(out);
	pthread_mutex_unlock(&log_mutex);
	free(line.s);
	free(msg);
}

void log_vmsg(PgcLogLevel level, const char *fmt, va_list ap)
{
	log_write(level, NULL, fmt, ap);
}

void log_msg(PgcLogLevel level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_write(level, NULL, fmt, ap);
	va_end(ap);
}

void log_fields(PgcLogLevel level, const char *const *fields, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_write(level, fields, fmt, ap);
	va_end(ap);
}

#define LOG_SHORTHAND(name, level)                  \
	void name(const char *fmt, ...)             \
	{                                           \
		va_list ap;                         \
		va_start(ap, fmt);                  \
		log_write(level, NULL, fmt, ap);    \
		va_end(ap);                         \
	}

LOG_SHORTHAND(log_error, LOG_ERROR)
LOG_SHORTHAND(log_warn, LOG_WARN)
LOG_SHORTHAND(log_info, LOG_INFO)
LOG_SHORTHAND(log_debug, LOG_DEBUG)
