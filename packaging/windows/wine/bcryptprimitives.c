/* Test shim for running TumorTracer.exe under Wine 8.0 (Debian 12), which lacks bcryptprimitives.dll.
 * Go's Windows runtime (1.22 and later) takes its random numbers from ProcessPrng in that DLL and stops at start-up
 * without it; every supported Windows (10 and 11) ships the real one, so this shim is never packaged. It forwards to
 * RtlGenRandom (advapi32 SystemFunction036), which Wine does implement. Built and installed into the Wine prefix by
 * packaging/windows/wine/smoke.sh. */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T size)
{
	while (size > 0) {
		ULONG n = size > 0x40000000 ? 0x40000000 : (ULONG)size;
		if (!SystemFunction036(data, n))
			return FALSE;
		data += n;
		size -= n;
	}
	return TRUE;
}
