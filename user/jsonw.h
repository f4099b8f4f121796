/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * JSON output through one writer (on the model of bpftool's json_writer): the writer places
 * the commas and the closing brackets and escapes every string, so a --json command cannot
 * print an invalid document whatever its data. Strings are bytes: quotes, backslashes and
 * control bytes are escaped, the rest passes as it is (names here are ASCII).
 *
 *	struct jw w;
 *	jw_init(&w, stdout);
 *	jw_obj(&w);
 *	jw_kstr(&w, "pod", name);
 *	jw_karr(&w, "checks"); ... jw_end(&w);
 *	jw_end(&w);                 // the outermost close writes the newline
 */
#ifndef SHUNT_JSONW_H
#define SHUNT_JSONW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define JW_DEPTH 16

struct jw {
	FILE *f;
	int depth;                 /* open objects and arrays */
	bool item[JW_DEPTH + 1];   /* has this level a member yet (a comma before the next) */
	char close[JW_DEPTH + 1];  /* what closes this level: '}' or ']' */
	bool keyed;                /* a key was written: its value comes next, no comma */
};

void jw_init(struct jw *w, FILE *f);
/* Open an object or an array as the next value; jw_end closes the innermost one. */
void jw_obj(struct jw *w);
void jw_arr(struct jw *w);
void jw_end(struct jw *w);
/* The key of the next member of an object. */
void jw_key(struct jw *w, const char *key);
/* Values. jw_strn: at most max bytes of s (a fixed-size field without its NUL). */
void jw_str(struct jw *w, const char *s);
void jw_strn(struct jw *w, const char *s, size_t max);
void jw_u64(struct jw *w, uint64_t v);
void jw_i64(struct jw *w, int64_t v);
void jw_bool(struct jw *w, bool v);
void jw_null(struct jw *w);
/* key and value together */
void jw_kstr(struct jw *w, const char *key, const char *s);
void jw_ku64(struct jw *w, const char *key, uint64_t v);
void jw_ki64(struct jw *w, const char *key, int64_t v);
void jw_kbool(struct jw *w, const char *key, bool v);
void jw_knull(struct jw *w, const char *key);
void jw_kobj(struct jw *w, const char *key);
void jw_karr(struct jw *w, const char *key);

/* s (up to NUL or max bytes) as a JSON string's contents, without quotes, into buf (always
 * terminated; stops short rather than cut an escape); the bytes written. For one-line
 * writers that build a line first (the log). */
size_t json_escape(char *buf, size_t size, const char *s, size_t max);

#endif
