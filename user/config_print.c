// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * A configuration printed: the policy as the YAML that reads back to it (what pod-init sends
 * and `check --print` shows), and the parser's errors as FILE:LINE:COL lines or JSON events.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "config.h"
#include "log.h"

static int port_cmp(const void *a, const void *b)
{
	return (int)*(const uint16_t *)a - (int)*(const uint16_t *)b;
}

/* [ "*" ] or [ 80, "4000-4100" ]: consecutive ports folded into ranges. */
static void yaml_ports(FILE *f, const struct config_port_list *l)
{
	uint16_t *v = malloc((l->n ? l->n : 1) * sizeof(*v));

	if (l->all) {
		fputs("[\"*\"]", f);
		free(v);
		return;
	}
	fputc('[', f);
	if (v && l->n) {
		memcpy(v, l->v, l->n * sizeof(*v));
		qsort(v, l->n, sizeof(*v), port_cmp);
		for (size_t i = 0; i < l->n;) {
			size_t j = i;

			while (j + 1 < l->n && v[j + 1] == v[j] + 1)
				j++;
			fprintf(f, "%s", i ? ", " : "");
			if (j == i)
				fprintf(f, "%u", v[i]);
			else
				fprintf(f, "\"%u-%u\"", v[i], v[j]);
			i = j + 1;
		}
	}
	fputc(']', f);
	free(v);
}

static void yaml_cidrs(FILE *f, const struct config_cidr_list *l)
{
	char buf[INET6_ADDRSTRLEN + 8];

	if (l->all) {
		fputs("[\"*\"]", f);
		return;
	}
	fputc('[', f);
	for (size_t i = 0; i < l->n; i++)
		fprintf(f, "%s\"%s\"", i ? ", " : "", config_cidr_str(&l->v[i], buf, sizeof(buf)));
	fputc(']', f);
}

char *config_policy_yaml(const struct shunt_config *c)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	if (!f)
		return NULL;
	fprintf(f, "proxy:\n  uid: %u\n", c->proxy_uid);
	if (c->has_gid)
		fprintf(f, "  gid: %u\n", c->proxy_gid);
	else
		fprintf(f, "  gid: ~\n");
	fprintf(f, "  outbound_port: %u\n  inbound_port: %u\n", c->outbound_port, c->inbound_port);
	if (c->tunnel_port)
		fprintf(f, "  tunnel_port: %u\n", c->tunnel_port);
	else
		fprintf(f, "  tunnel_port: ~\n");
	fputs("outbound:\n  include_cidrs: ", f);
	yaml_cidrs(f, &c->out_include_cidrs);
	fputs("\n  exclude_cidrs: ", f);
	yaml_cidrs(f, &c->out_exclude_cidrs);
	fputs("\n  include_ports: ", f);
	yaml_ports(f, &c->out_include_ports);
	fputs("\n  exclude_ports: ", f);
	yaml_ports(f, &c->out_exclude_ports);
	fputs("\ninbound:\n  include_ports: ", f);
	yaml_ports(f, &c->in_include_ports);
	fputs("\n  exclude_ports: ", f);
	yaml_ports(f, &c->in_exclude_ports);
	fputs("\n  exclude_source_cidrs: ", f);
	yaml_cidrs(f, &c->in_exclude_src_cidrs);
	fprintf(f, "\nmesh:\n  flavor: %s\n",
		c->flavor == CONFIG_FLAVOR_LINKERD ? "linkerd" : "istio");
	fprintf(f, "dns:\n  capture: %s\n  port: %u\n  capture_all: %s\n  servers: ",
		c->dns_capture ? "true" : "false", c->dns_port, c->dns_all ? "true" : "false");
	yaml_cidrs(f, &c->dns_servers);
	fputc('\n', f);
	if (fclose(f)) {
		free(out);
		return NULL;
	}
	return out;
}

/* FILE:LINE:COL: lines as they are (what editors jump to); under --log-format json, one
 * event each, a warning's level from its text */
void config_errors_print(const struct config_errors *errs)
{
	for (size_t i = 0; i < errs->n; i++) {
		if (log_json)
			log_msg(strstr(errs->msgs[i], ": warning: ") ? LOG_WARN : LOG_ERR, "%s",
				errs->msgs[i]);
		else
			fprintf(stderr, "%s\n", errs->msgs[i]);
	}
}
