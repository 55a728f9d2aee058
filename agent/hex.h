/* The four hex digits of a JSON or logfmt \uXXXX escape, read by the checkpoint loader, the plugin
 * value checker and the logfmt parser alike. */
#ifndef ONSIDE_HEX_H
#define ONSIDE_HEX_H

/* The value of the four hex digits at p (which must have four bytes), or -1 when one is not a hex
 * digit. */
static inline long hex4(const char *p)
{
	long v = 0;

	for (int i = 0; i < 4; i++) {
		unsigned char c = (unsigned char)p[i];
		int d;

		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			d = c - 'A' + 10;
		else
			return -1;
		v = v * 16 + d;
	}
	return v;
}

#endif
