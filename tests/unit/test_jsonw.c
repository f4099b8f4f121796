// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The JSON writer every --json command prints through: whatever the data (quotes, control
 * bytes, empty containers, nesting), the output parses as JSON (json-c, the same parser the
 * CNI side uses) and says what was written.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <json-c/json.h>
#include "jsonw.h"

/* What a writer wrote, parsed; the text in *text (caller frees). */
static struct json_object *written(void (*fill)(struct jw *), char **text)
{
	size_t len = 0;
	FILE *f = open_memstream(text, &len);
	struct jw w;

	assert_non_null(f);
	jw_init(&w, f);
	fill(&w);
	fclose(f);
	return json_tokener_parse(*text);
}

static void fill_nested(struct jw *w)
{
	jw_obj(w);
	jw_kstr(w, "pod", "ns/a\"b\\c\n\t\x01\x7f");
	jw_ku64(w, "big", UINT64_MAX);
	jw_ki64(w, "neg", -5);
	jw_kbool(w, "yes", true);
	jw_knull(w, "none");
	jw_karr(w, "empty");
	jw_end(w);
	jw_kobj(w, "obj");
	jw_end(w);
	jw_karr(w, "list");
	for (int i = 0; i < 3; i++) {
		jw_obj(w);
		jw_ki64(w, "i", i);
		jw_karr(w, "inner");
		jw_u64(w, 1);
		jw_str(w, "x");
		jw_null(w);
		jw_end(w);
		jw_end(w);
	}
	jw_end(w);
	jw_key(w, "n");
	jw_strn(w, "abcdef", 3);
	jw_end(w);
}

static void test_nested_valid(void **state)
{
	char *text = NULL;
	struct json_object *o = written(fill_nested, &text), *v, *e;

	(void)state;
	assert_non_null(o);
	assert_true(json_object_object_get_ex(o, "pod", &v));
	assert_string_equal(json_object_get_string(v), "ns/a\"b\\c\n\t\x01\x7f");
	assert_true(json_object_object_get_ex(o, "big", &v));
	assert_int_equal(json_object_get_uint64(v), UINT64_MAX);
	assert_true(json_object_object_get_ex(o, "neg", &v));
	assert_int_equal(json_object_get_int(v), -5);
	assert_true(json_object_object_get_ex(o, "none", &v));
	assert_null(v);
	assert_true(json_object_object_get_ex(o, "empty", &v));
	assert_int_equal(json_object_array_length(v), 0);
	assert_true(json_object_object_get_ex(o, "list", &v));
	assert_int_equal(json_object_array_length(v), 3);
	e = json_object_array_get_idx(v, 2);
	assert_true(json_object_object_get_ex(e, "inner", &v));
	assert_int_equal(json_object_array_length(v), 3);
	assert_true(json_object_object_get_ex(o, "n", &v));
	assert_string_equal(json_object_get_string(v), "abc");
	/* one document, one line */
	assert_non_null(strchr(text, '\n'));
	assert_int_equal(strchr(text, '\n')[1], '\0');
	json_object_put(o);
	free(text);
}

static void fill_top_array(struct jw *w)
{
	jw_arr(w);
	jw_end(w);
	jw_end(w);   /* one too many: ignored, not a stray bracket */
}

static void test_empty_and_extra_end(void **state)
{
	char *text = NULL;
	struct json_object *o = written(fill_top_array, &text);

	(void)state;
	assert_non_null(o);
	assert_string_equal(text, "[]\n");
	json_object_put(o);
	free(text);
}

static void test_escape_buffer(void **state)
{
	char buf[8];

	(void)state;
	/* stops short rather than cut an escape in two */
	assert_int_equal(json_escape(buf, sizeof(buf), "ab\"cd\x01", SIZE_MAX), 6);
	assert_string_equal(buf, "ab\\\"cd");
	assert_int_equal(json_escape(buf, sizeof(buf), "abcdef", 2), 2);
	assert_string_equal(buf, "ab");
	assert_int_equal(json_escape(buf, 0, "x", SIZE_MAX), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nested_valid),
		cmocka_unit_test(test_empty_and_extra_end),
		cmocka_unit_test(test_escape_buffer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
