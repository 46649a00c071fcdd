/* The fake selftests are built from behaviour; the bisect stage builds a test
 * only where its source exists. */
