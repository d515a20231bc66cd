# tools/bench/gen_log (see gen_log.c), built against libtessera.a by tools/bench/recovery
# without touching Makefile.am: it is an extra makefile read after the build directory's
# own, whose variables (COMPILE, TESSERA_LIBS) it uses:
#   make -C BUILD_DIR -f Makefile -f TOP/tools/bench/gen_log.mk tools/bench/gen_log
tools/bench/gen_log$(EXEEXT): $(top_srcdir)/tools/bench/gen_log.c libtessera.a libllhttp.a
	@$(MKDIR_P) tools/bench
	$(AM_V_CC)$(COMPILE) -O2 -o $@ $(top_srcdir)/tools/bench/gen_log.c $(AM_LDFLAGS) $(LDFLAGS) \
		$(TESSERA_LIBS) $(LIBS)
