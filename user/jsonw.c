// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The JSON writer: commas, nesting and escaping in one place (jsonw.h). */
#include <inttypes.h>
#include <string.h>
#include "jsonw.h"

/* One byte as it stands inside a JSON string: into out (room for 7), its length. */
static size_t escape_byte(unsigned char ch, char *out)
{
	switch (ch) {
	case '"': case '\\':
		out[0] = '\\';
		out[1] = (char)ch;
		return 2;
	case '\n':
		memcpy(out, "\\n", 2);
		return 2;
	case '\t':
		memcpy(out, "\\t", 2);
		return 2;
	case '\r':
		memcpy(out, "\\r", 2);
		return 2;
	}
	if (ch < 0x20 || ch == 0x7f)
		return (size_t)snprintf(out, 7, "\\u%04x", ch);
	out[0] = (char)ch;
	return 1;
}

size_t json_escape(char *buf, size_t size, const char *s, size_t max)
{
	size_t n = 0;

	if (!size)
		return 0;
	for (size_t i = 0; i < max && s[i]; i++) {
		char e[8];
		size_t k = escape_byte((unsigned char)s[i], e);

		if (n + k >= size)
			break;
		memcpy(buf + n, e, k);
		n += k;
	}
	buf[n] = '\0';
	return n;
}

static void quoted(FILE *f, const char *s, size_t max)
{
	fputc('"', f);
	for (size_t i = 0; i < max && s[i]; i++) {
		char e[8];

		fwrite(e, 1, escape_byte((unsigned char)s[i], e), f);
	}
	fputc('"', f);
}

void jw_init(struct jw *w, FILE *f)
{
	memset(w, 0, sizeof(*w));
	w->f = f;
}

/* Before a value or a key: the comma that separates it from the previous member, unless it
 * is the value of the key just written. */
static void sep(struct jw *w)
{
	if (w->keyed) {
		w->keyed = false;
		return;
	}
	if (w->item[w->depth])
		fputc(',', w->f);
	w->item[w->depth] = true;
}

static void open_level(struct jw *w, char open, char close)
{
	sep(w);
	fputc(open, w->f);
	if (w->depth == JW_DEPTH) {
		/* deeper than any shunt document: still valid JSON, the commas just follow the
		 * innermost level kept */
		w->close[w->depth] = close;
		return;
	}
	w->depth++;
	w->item[w->depth] = false;
	w->close[w->depth] = close;
}

void jw_obj(struct jw *w)
{
	open_level(w, '{', '}');
}

void jw_arr(struct jw *w)
{
	open_level(w, '[', ']');
}

void jw_end(struct jw *w)
{
	if (w->depth == 0)
		return;
	fputc(w->close[w->depth], w->f);
	if (--w->depth == 0)
		fputc('\n', w->f);
}

void jw_key(struct jw *w, const char *key)
{
	sep(w);
	quoted(w->f, key, SIZE_MAX);
	fputc(':', w->f);
	w->keyed = true;
}

void jw_strn(struct jw *w, const char *s, size_t max)
{
	sep(w);
	quoted(w->f, s ? s : "", max);
}

void jw_str(struct jw *w, const char *s)
{
	jw_strn(w, s, SIZE_MAX);
}

void jw_u64(struct jw *w, uint64_t v)
{
	sep(w);
	fprintf(w->f, "%" PRIu64, v);
}

void jw_i64(struct jw *w, int64_t v)
{
	sep(w);
	fprintf(w->f, "%" PRId64, v);
}

void jw_bool(struct jw *w, bool v)
{
	sep(w);
	fputs(v ? "true" : "false", w->f);
}

void jw_null(struct jw *w)
{
	sep(w);
	fputs("null", w->f);
}

void jw_kstr(struct jw *w, const char *key, const char *s)
{
	jw_key(w, key);
	jw_str(w, s);
}

void jw_ku64(struct jw *w, const char *key, uint64_t v)
{
	jw_key(w, key);
	jw_u64(w, v);
}

void jw_ki64(struct jw *w, const char *key, int64_t v)
{
	jw_key(w, key);
	jw_i64(w, v);
}

void jw_kbool(struct jw *w, const char *key, bool v)
{
	jw_key(w, key);
	jw_bool(w, v);
}

void jw_knull(struct jw *w, const char *key)
{
	jw_key(w, key);
	jw_null(w);
}

void jw_kobj(struct jw *w, const char *key)
{
	jw_key(w, key);
	jw_obj(w);
}

void jw_karr(struct jw *w, const char *key)
{
	jw_key(w, key);
	jw_arr(w);
}
