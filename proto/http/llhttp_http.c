/*
 * Compiles llhttp's http.c from the directory configure found (Debian's node-llhttp by
 * default) into libllhttp.a, in llhttp's strict mode (Makefile.am).  The source is not
 * ours; it builds without our warning set.
 */
#include <http.c>
