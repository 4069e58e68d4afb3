/*
 * The one e-mail address check, used by registration and login (accounts)
 * and by CSV imports: trimmed, one '@', a dotted domain, lower-cased domain.
 */
#ifndef FERRY_EMAIL_H
#define FERRY_EMAIL_H

#define FERRY_EMAIL_MAX 254

/* Writes the normalised address (at most FERRY_EMAIL_MAX bytes and a NUL)
 * to out, which may be in; 0, or -1 when in is not an address. */
int ferry_email_normalize(const char *in, char *out);

#endif
