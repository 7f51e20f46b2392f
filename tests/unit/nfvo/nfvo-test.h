/* Helpers shared by the nfvo unit tests: reading test data, parsing with the onboarded demo VNFDs,
 * and asserting on errors. */
#pragma once

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "lib/json.h"
#include "nfvo/descriptor.h"

/* The contents of SF_TEST_DATA/rel (fails the test when missing). */
char *td_read(const char *rel, size_t *len);
/* sf_desc_parse of a test data file; the result code, with ret and errors set as sf_desc_parse does. */
int td_parse(const char *rel, const sf_desc_opts *opts, sf_desc **ret, json_t **errors);
/* Options whose lookup knows the three demo VNFDs (tests/data/descriptors/demo-*-vnfd.yaml). */
const sf_desc_opts *td_demo_opts(void);
void td_demo_free(void);
/* Asserts that the array of strings contains s. */
void td_assert_has(const json_t *array, const char *s);
/* The array of strings as one string, "a,b,c". */
char *td_join(const json_t *array);
