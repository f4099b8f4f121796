// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The embedded default: Istio's sidecar defaults (istio-iptables -p 15001 -z 15006 -u 1337
 * -g 1337 -i '*' -x '' -b '*' -d 15090,15021,15020, tunnel 15008). */
#include "config.h"

const char config_default_yaml[] =
	"# shunt route configuration: Istio's sidecar defaults\n"
	"proxy:\n"
	"  uid: 1337\n"
	"  gid: 1337\n"
	"  outbound_port: 15001\n"
	"  inbound_port: 15006\n"
	"  tunnel_port: 15008\n"
	"outbound:\n"
	"  include_cidrs: [\"*\"]\n"
	"  exclude_cidrs: []\n"
	"  include_ports: []\n"
	"  exclude_ports: []\n"
	"inbound:\n"
	"  include_ports: [\"*\"]\n"
	"  exclude_ports: [15020, 15021, 15090]\n"
	"acceleration: false\n"
	"acceleration_queue_limit: 4MiB\n"
	"mesh:\n"
	"  auto_detect: true\n"
	"workloads: []\n";
