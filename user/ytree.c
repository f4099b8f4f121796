// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* See ytree.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>
#include "ytree.h"

#define YTREE_MAX_DEPTH 64

struct builder {
	yaml_parser_t parser;
	struct ytree *t;
	struct ytree_error *err;
};

static int fail_at(struct builder *b, const yaml_mark_t *m, const char *msg)
{
	b->err->line = (int)m->line + 1;
	b->err->col = (int)m->column + 1;
	snprintf(b->err->msg, sizeof(b->err->msg), "%s", msg);
	return -EINVAL;
}

static int next_event(struct builder *b, yaml_event_t *ev)
{
	if (yaml_parser_parse(&b->parser, ev))
		return 0;
	b->err->line = (int)b->parser.problem_mark.line + 1;
	b->err->col = (int)b->parser.problem_mark.column + 1;
	snprintf(b->err->msg, sizeof(b->err->msg), "invalid YAML: %s%s%s",
		 b->parser.problem ? b->parser.problem : "syntax error",
		 b->parser.context ? " " : "", b->parser.context ? b->parser.context : "");
	return -EINVAL;
}

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
	size_t n = *cap ? *cap : 64;
	void *g;

	if (need <= *cap)
		return 0;
	while (n < need)
		n *= 2;
	g = realloc(*p, n * elem);
	if (!g)
		return -ENOMEM;
	*p = g;
	*cap = n;
	return 0;
}

static int new_node(struct builder *b, const yaml_event_t *ev, uint8_t type, uint32_t *idx)
{
	struct ytree *t = b->t;
	struct ynode *n;

	if (grow((void **)&t->nodes, &t->cap_nodes, t->n_nodes + 1, sizeof(*t->nodes)))
		return -ENOMEM;
	*idx = (uint32_t)t->n_nodes++;
	n = &t->nodes[*idx];
	memset(n, 0, sizeof(*n));
	n->type = type;
	n->line = (int)ev->start_mark.line + 1;
	n->col = (int)ev->start_mark.column + 1;
	/* until the tree is done the buffer may move: keep an offset, fixed up at the end */
	n->value = (const char *)(uintptr_t)0;
	if (type == YN_SCALAR) {
		size_t len = ev->data.scalar.length;

		if (grow((void **)&t->strings, &t->cap_strings, t->n_strings + len + 1, 1))
			return -ENOMEM;
		memcpy(t->strings + t->n_strings, ev->data.scalar.value, len);
		t->strings[t->n_strings + len] = '\0';
		n->value = (const char *)(uintptr_t)t->n_strings;
		t->n_strings += len + 1;
		n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
	}
	return 0;
}

static int parse_node(struct builder *b, yaml_event_t *ev, int depth, uint32_t *out);

/* Children of a sequence or mapping, up to its end event, stored as one index range. */
static int parse_children(struct builder *b, uint32_t parent, yaml_event_type_t end, int depth)
{
	uint32_t *tmp = NULL, idx;
	size_t n = 0, cap = 0;
	yaml_event_t ev;
	int err;

	for (;;) {
		err = next_event(b, &ev);
		if (err)
			break;
		if (ev.type == end) {
			yaml_event_delete(&ev);
			break;
		}
		err = parse_node(b, &ev, depth + 1, &idx);
		yaml_event_delete(&ev);
		if (err)
			break;
		if ((err = grow((void **)&tmp, &cap, n + 1, sizeof(*tmp))))
			break;
		tmp[n++] = idx;
	}
	if (!err) {
		struct ytree *t = b->t;

		err = grow((void **)&t->kids, &t->cap_kids, t->n_kids + n, sizeof(*t->kids));
		if (!err) {
			if (n)
				memcpy(t->kids + t->n_kids, tmp, n * sizeof(*tmp));
			t->nodes[parent].first = (uint32_t)t->n_kids;
			t->nodes[parent].n = (uint32_t)n;
			t->n_kids += n;
		}
	}
	free(tmp);
	return err;
}

static int parse_node(struct builder *b, yaml_event_t *ev, int depth, uint32_t *out)
{
	int err;

	if (depth > YTREE_MAX_DEPTH)
		return fail_at(b, &ev->start_mark, "nested too deep");
	switch (ev->type) {
	case YAML_SCALAR_EVENT:
		return new_node(b, ev, YN_SCALAR, out);
	case YAML_SEQUENCE_START_EVENT:
		err = new_node(b, ev, YN_SEQUENCE, out);
		return err ? err : parse_children(b, *out, YAML_SEQUENCE_END_EVENT, depth);
	case YAML_MAPPING_START_EVENT:
		err = new_node(b, ev, YN_MAPPING, out);
		return err ? err : parse_children(b, *out, YAML_MAPPING_END_EVENT, depth);
	case YAML_ALIAS_EVENT:
		return fail_at(b, &ev->start_mark, "aliases (*name) are not supported");
	default:
		return fail_at(b, &ev->start_mark, "unexpected YAML structure");
	}
}

int ytree_parse(const char *text, size_t len, struct ytree *t, struct ytree_error *err)
{
	struct builder b = { .t = t, .err = err };
	yaml_event_t ev;
	uint32_t root;
	int rc, docs = 0;

	memset(t, 0, sizeof(*t));
	memset(err, 0, sizeof(*err));
	if (!yaml_parser_initialize(&b.parser))
		return -ENOMEM;
	yaml_parser_set_input_string(&b.parser, (const unsigned char *)text, len);
	t->empty = true;
	/* STREAM-START, then DOCUMENT-START root DOCUMENT-END, or STREAM-END at once */
	while (!(rc = next_event(&b, &ev))) {
		yaml_event_type_t type = ev.type;

		if (type == YAML_STREAM_END_EVENT) {
			yaml_event_delete(&ev);
			break;
		}
		yaml_event_delete(&ev);
		if (type != YAML_DOCUMENT_START_EVENT)
			continue;
		if ((rc = next_event(&b, &ev)))
			break;
		if (docs++) {
			/* a later document: note where it starts, read no further */
			t->second_doc = true;
			t->line2 = (int)ev.start_mark.line + 1;
			t->col2 = (int)ev.start_mark.column + 1;
			yaml_event_delete(&ev);
			break;
		}
		rc = parse_node(&b, &ev, 0, &root);
		yaml_event_delete(&ev);
		if (rc)
			break;
		/* an empty document reads as one empty plain scalar */
		t->empty = t->nodes[0].type == YN_SCALAR &&
			   t->strings[(uintptr_t)t->nodes[0].value] == '\0';
	}
	yaml_parser_delete(&b.parser);
	if (rc) {
		ytree_free(t);
		return rc;
	}
	for (size_t i = 0; i < t->n_nodes; i++)
		t->nodes[i].value = t->strings ? t->strings + (uintptr_t)t->nodes[i].value : "";
	return 0;
}

void ytree_free(struct ytree *t)
{
	free(t->nodes);
	free(t->kids);
	free(t->strings);
	memset(t, 0, sizeof(*t));
}
