/*
 * bcryptprimitives.dll for Wine 8, which lacks it: Rust's standard library
 * asks it for ProcessPrng (Windows 10 and later). This one forwards to
 * advapi32's RtlGenRandom (SystemFunction036), which Wine has.
 *
 * Used only to run the Windows agent under Wine in tests; never shipped.
 * Built by the Wine test with:
 *   x86_64-w64-mingw32-gcc -shared -O2 -o bcryptprimitives.dll bcryptprimitives.c bcryptprimitives.def
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length)
{
    while (length > 0) {
        ULONG chunk = length > 0x10000000 ? 0x10000000 : (ULONG)length;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}
