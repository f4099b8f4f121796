/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * A compact YAML tree built from libyaml's event stream. libyaml's own document model
 * spends ~150 bytes and a tag string per node; a 100k-route config peaked at 24 MiB with it.
 * Here a node is 32 bytes, scalars share one string buffer, and children are index ranges.
 * Aliases are refused (a route config has no use for them, and they make error positions
 * ambiguous).
 */
#ifndef SHUNT_YTREE_H
#define SHUNT_YTREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum ynode_type { YN_SCALAR = 1, YN_SEQUENCE = 2, YN_MAPPING = 3 };

struct ynode {
	uint8_t type;          /* enum ynode_type */
	uint8_t plain;         /* a scalar written without quotes */
	uint16_t pad;
	int line, col;         /* 1-based start of the node */
	const char *value;     /* scalar text; "" for collections */
	uint32_t first, n;     /* children in ytree.kids: items, or key/value pairs (n = 2*pairs) */
};

struct ytree {
	struct ynode *nodes;
	uint32_t *kids;
	char *strings;
	size_t n_nodes, n_kids, n_strings;
	size_t cap_nodes, cap_kids, cap_strings;
	bool empty;            /* no document, or an empty one */
	bool second_doc;       /* more than one document: position of its root in line2/col2 */
	int line2, col2;
};

struct ytree_error {
	int line, col;         /* 1-based */
	char msg[256];
};

/* 0, or -EINVAL with err filled (a YAML syntax error, an alias, nesting too deep), or
 * -ENOMEM. The root is nodes[0] unless t->empty. */
int ytree_parse(const char *text, size_t len, struct ytree *t, struct ytree_error *err);
void ytree_free(struct ytree *t);

static inline const struct ynode *ytree_kid(const struct ytree *t, const struct ynode *n,
					    uint32_t i)
{
	return &t->nodes[t->kids[n->first + i]];
}

#endif
