/*
 * E-mail address check and normalisation.
 */
#include "ferry_email.h"

#include <ctype.h>
#include <string.h>

int
ferry_email_normalize(const char *in, char *out)
{
    const char *s, *e, *at, *p;
    size_t      n, i;

    for (s = in; isspace((unsigned char) *s); s++) { /* void */
    }
    for (e = s + strlen(s); e > s && isspace((unsigned char) e[-1]); e--)
    { /* void */
    }

    n = (size_t) (e - s);
    if (n == 0 || n > FERRY_EMAIL_MAX) {
        return -1;
    }

    at = memchr(s, '@', n);
    if (at == NULL || at == s || at == e - 1
        || memchr(at + 1, '@', (size_t) (e - at - 1)))
    {
        return -1;
    }

    for (p = s; p < e; p++) {
        if ((unsigned char) *p <= ' ' || *p == '"' || *p == ',' || *p == '<'
            || *p == '>' || *p == '(' || *p == ')' || *p == ';' || *p == '\\')
        {
            return -1;
        }
    }

    /* the domain: labels separated by dots, none empty */
    p = memchr(at + 1, '.', (size_t) (e - at - 1));
    if (p == NULL || at[1] == '.' || e[-1] == '.') {
        return -1;
    }
    for (p = at + 1; p < e - 1; p++) {
        if (p[0] == '.' && p[1] == '.') {
            return -1;
        }
    }

    for (i = 0; i < n; i++) {
        out[i] = s + i > at ? (char) tolower((unsigned char) s[i]) : s[i];
    }
    out[n] = '\0';

    return 0;
}
