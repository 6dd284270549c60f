/* PCRE2 with 8-bit code units (UTF-8), for the bounded regex engine of conditions and branch rules. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
