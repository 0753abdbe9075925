/*
 * tests/integration/etcd_driver.c - runs etcd client calls (reconcile/coord/
 * etcd.h) from the command line, so that test_etcd.sh checks the client
 * against a real etcd. Several commands separated by "," run on one client
 * (one connection, one token).
 *
 *   etcd_driver [-e ENDPOINT]... [-u USER] [--ca FILE] [--cert FILE --key FILE]
 *               [-t TIMEOUT_MS] COMMAND [ARGS] [, COMMAND [ARGS]]...
 *
 * The password (with -u) comes from the environment, ETCD_DRIVER_PASSWORD,
 * never from argv. Commands and what they print (one line):
 *   get KEY                  "found VALUE create=N mod=N lease=N" or "absent"
 *   prefix PREFIX            "N keys" then "KEY=VALUE" per key
 *   put KEY VALUE [LEASE]    "ok"
 *   del KEY                  "ok"
 *   create KEY VALUE [LEASE] a txn "create KEY if absent": "succeeded REV" or "failed"
 *   cas KEY OLD NEW          a txn "KEY = NEW if KEY is OLD": "succeeded REV" or "failed"
 *   grant TTL                the lease ID
 *   keepalive ID             the TTL left (0: expired)
 *   revoke ID                "ok"
 *   watch PREFIX FROM WAIT_MS  "changed REV" or "quiet", and the time waited "ms=N"
 *   sleep MS                 nothing (lets a token expire between two calls)
 *   binary KEY               puts the 255 bytes 1..255 (every byte but NUL), reads them back: "same"
 *
 * Every command runs, even after one failed. Exit: 0 every command succeeded;
 * else for the first that failed 2 etcd unreachable, 3 refused, 4 bad reply
 * (the error on stderr), 1 usage.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "common/clock.h"
#include "reconcile/coord/etcd.h"

static int status_exit(PgcEtcdClient *e, PgcEtcdStatus st)
{
	if (st == ETCD_OK)
		return 0;
	fprintf(stderr, "%s\n", etcd_error(e));
	return st == ETCD_UNREACHABLE ? 2 : st == ETCD_REFUSED ? 3 : 4;
}

static int64_t num(const char *s)
{
	return strtoll(s, NULL, 10);
}

/* run - one command (argv[0..argc-1]). */
static int run(PgcEtcdClient *e, PgcArena *a, int argc, char **argv)
{
	const char *cmd = argv[0];
	PgcEtcdStatus st;

	if (strcmp(cmd, "get") == 0 && argc == 2) {
		PgcEtcdKv kv;
		bool found;

		st = etcd_get(e, a, argv[1], &kv, &found, NULL);
		if (st == ETCD_OK && found)
			printf("found %s create=%" PRId64 " mod=%" PRId64 " lease=%" PRId64 "\n",
			       kv.value, kv.create_revision, kv.mod_revision, kv.lease);
		else if (st == ETCD_OK)
			printf("absent\n");
		return status_exit(e, st);
	}
	if (strcmp(cmd, "prefix") == 0 && argc == 2) {
		PgcEtcdKv *kvs;
		size_t n, i;

		st = etcd_get_prefix(e, a, argv[1], &kvs, &n, NULL);
		if (st == ETCD_OK) {
			printf("%zu keys\n", n);
			for (i = 0; i < n; i++)
				printf("%s=%s\n", kvs[i].key, kvs[i].value);
		}
		return status_exit(e, st);
	}
	if (strcmp(cmd, "put") == 0 && (argc == 3 || argc == 4)) {
		st = etcd_put(e, argv[1], argv[2], strlen(argv[2]), argc == 4 ? num(argv[3]) : 0);
		if (st == ETCD_OK)
			printf("ok\n");
		return status_exit(e, st);
	}
	if (strcmp(cmd, "del") == 0 && argc == 2) {
		st = etcd_delete(e, argv[1]);
		if (st == ETCD_OK)
			printf("ok\n");
		return status_exit(e, st);
	}
	if ((strcmp(cmd, "create") == 0 && (argc == 3 || argc == 4)) ||
	    (strcmp(cmd, "cas") == 0 && argc == 4)) {
		bool create = cmd[0] == 'c' && cmd[1] == 'r', ok;
		PgcEtcdCompare c = {.key = argv[1]};
		PgcEtcdOp op = {.key = argv[1]};
		int64_t rev = 0;

		if (create) {
			c.target = ETCD_CMP_CREATE_REVISION;
			c.revision = 0;
			op.value = argv[2];
			op.lease = argc == 4 ? num(argv[3]) : 0;
		} else {
			c.target = ETCD_CMP_VALUE;
			c.value = argv[2];
			op.value = argv[3];
		}
		op.len = strlen(op.value);
		st = etcd_txn(e, &c, 1, &op, 1, &ok, &rev);
		if (st == ETCD_OK && ok)
			printf("succeeded %" PRId64 "\n", rev);
		else if (st == ETCD_OK)
			printf("failed\n");
		return status_exit(e, st);
	}
	if (strcmp(cmd, "grant") == 0 && argc == 2) {
		int64_t id;

		st = etcd_lease_grant(e, num(argv[1]), &id);
		if (st == ETCD_OK)
			printf("%" PRId64 "\n", id);
		return status_exit(e, st);
	}
	if (strcmp(cmd, "keepalive") == 0 && argc == 2) {
		int64_t ttl;

		st = etcd_lease_keepalive(e, num(argv[1]), &ttl);
		if (st == ETCD_OK)
			printf("%" PRId64 "\n", ttl);
		return status_exit(e, st);
	}
	if (strcmp(cmd, "revoke") == 0 && argc == 2) {
		st = etcd_lease_revoke(e, num(argv[1]));
		if (st == ETCD_OK)
			printf("ok\n");
		return status_exit(e, st);
	}
	if (strcmp(cmd, "watch") == 0 && argc == 4) {
		double t0 = clock_ms();
		int64_t rev;
		bool changed;

		st = etcd_watch_prefix(e, argv[1], num(argv[2]), (int)num(argv[3]), &changed, &rev);
		if (st == ETCD_OK && changed)
			printf("changed %" PRId64 " ms=%.0f\n", rev, clock_ms() - t0);
		else if (st == ETCD_OK)
			printf("quiet ms=%.0f\n", clock_ms() - t0);
		return status_exit(e, st);
	}
	if (strcmp(cmd, "sleep") == 0 && argc == 2) {
		clock_sleep_ms((double)num(argv[1]));
		return 0;
	}
	if (strcmp(cmd, "binary") == 0 && argc == 2) {
		char value[255];
		PgcEtcdKv kv;
		bool found;
		int i;

		/* Every byte but NUL, the high ones included. */
		for (i = 0; i < 255; i++)
			value[i] = (char)(i + 1);
		st = etcd_put(e, argv[1], value, sizeof(value), 0);
		if (st == ETCD_OK)
			st = etcd_get(e, a, argv[1], &kv, &found, NULL);
		if (st == ETCD_OK)
			printf("%s\n", found && kv.value_len == sizeof(value) &&
						       memcmp(kv.value, value, sizeof(value)) == 0
					       ? "same"
					       : "different");
		return status_exit(e, st);
	}
	fprintf(stderr, "etcd_driver: unknown command or arguments: %s\n", cmd);
	return 1;
}

int main(int argc, char **argv)
{
	const char *endpoints[8];
	PgcEtcdConfig cfg = {.endpoints = endpoints};
	PgcEtcdClient *e;
	PgcArena *a;
	char err[512];
	int i = 1, rc = 0;

	for (; i < argc; i++) {
		if (strcmp(argv[i], "-e") == 0 && i + 1 < argc && cfg.n_endpoints < 8)
			endpoints[cfg.n_endpoints++] = argv[++i];
		else if (strcmp(argv[i], "-u") == 0 && i + 1 < argc)
			cfg.user = argv[++i];
		else if (strcmp(argv[i], "--ca") == 0 && i + 1 < argc)
			cfg.ca_file = argv[++i];
		else if (strcmp(argv[i], "--cert") == 0 && i + 1 < argc)
			cfg.cert_file = argv[++i];
		else if (strcmp(argv[i], "--key") == 0 && i + 1 < argc)
			cfg.key_file = argv[++i];
		else if (strcmp(argv[i], "-t") == 0 && i + 1 < argc)
			cfg.timeout_ms = (int)num(argv[++i]);
		else
			break;
	}
	if (i >= argc) {
		fprintf(stderr, "usage: etcd_driver [-e ENDPOINT]... [-u USER] [--ca F] [--cert F --key F] [-t MS] COMMAND ...\n");
		return 1;
	}
	if (cfg.user != NULL)
		cfg.password = getenv("ETCD_DRIVER_PASSWORD");
	e = etcd_open(&cfg, err, sizeof(err));
	if (e == NULL) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	a = arena_new();
	while (i < argc) {
		int j = i, r;

		while (j < argc && strcmp(argv[j], ",") != 0)
			j++;
		r = run(e, a, j - i, argv + i);
		if (rc == 0)
			rc = r;
		fflush(stdout);
		i = j + 1;
	}
	arena_free(a);
	etcd_close(e);
	return rc;
}
