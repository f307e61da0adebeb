# Installs TumorTracer from this tarball (made by packaging/package.sh in the TumorTracer sources).
#   sudo make install        into /usr/local (PREFIX=/usr/local by default)
#   sudo make uninstall
#   make user-install        into ~/.local, no root needed
#   make user-uninstall
# Or run it in place without installing: ./usr/local/bin/tumortracer
# ONNX Runtime is kept in PREFIX/lib/tumortracer/, off the system library path; the binary finds it there.
PREFIX ?= /usr/local
MAKEFLAGS += --no-print-directory
SRC := usr/local
APP := org.tumortracer.viewer

FILES := bin/tumortracer lib/tumortracer/libonnxruntime.so.1 share/applications/$(APP).desktop \
	share/mime/packages/$(APP).xml share/tumortracer/samples/phantom-chest-xray.dcm \
	share/tumortracer/samples/phantom-chest-ct.dcm share/doc/tumortracer/copyright share/doc/tumortracer/LICENSE \
	share/doc/tumortracer/THIRD-PARTY-NOTICES share/tumortracer/gpu-addon.sh

default:
	@sed -n 's/^#   //p' Makefile

install:
	$(MAKE) copy DEST=$(DESTDIR)$(PREFIX) ICONS=$(DESTDIR)$(PREFIX)/share/icons
	$(MAKE) refresh DEST=$(DESTDIR)$(PREFIX)

uninstall:
	$(MAKE) remove DEST=$(DESTDIR)$(PREFIX) ICONS=$(DESTDIR)$(PREFIX)/share/icons
	$(MAKE) refresh DEST=$(DESTDIR)$(PREFIX)

user-install:
	$(MAKE) copy DEST=$(HOME)/.local ICONS=$(HOME)/.local/share/icons
	sed -i -e 's,^Exec=tumortracer,Exec=$(HOME)/.local/bin/tumortracer,' -e 's,^TryExec=tumortracer,TryExec=$(HOME)/.local/bin/tumortracer,' \
		$(HOME)/.local/share/applications/$(APP).desktop
	$(MAKE) refresh DEST=$(HOME)/.local

user-uninstall:
	$(MAKE) remove DEST=$(HOME)/.local ICONS=$(HOME)/.local/share/icons
	$(MAKE) refresh DEST=$(HOME)/.local

copy:
	for f in $(FILES); do \
		case $$f in bin/*|*.sh) m=0755 ;; *) m=0644 ;; esac; \
		install -Dm$$m $(SRC)/$$f $(DEST)/$$f || exit 1; \
	done
	install -Dm0644 $(SRC)/share/pixmaps/$(APP).png $(ICONS)/hicolor/256x256/apps/$(APP).png

remove:
	for f in $(FILES) lib/tumortracer/libonnxruntime_providers_shared.so lib/tumortracer/libonnxruntime_providers_cuda.so; do \
		rm -f $(DEST)/$$f; \
	done
	rm -f $(ICONS)/hicolor/256x256/apps/$(APP).png
	-rmdir $(DEST)/lib/tumortracer $(DEST)/share/tumortracer/samples $(DEST)/share/tumortracer $(DEST)/share/doc/tumortracer 2>/dev/null

refresh:
	@if command -v update-mime-database >/dev/null; then update-mime-database $(DEST)/share/mime >/dev/null; fi
	@if command -v update-desktop-database >/dev/null; then update-desktop-database -q $(DEST)/share/applications; fi

.PHONY: default install uninstall user-install user-uninstall copy remove refresh
