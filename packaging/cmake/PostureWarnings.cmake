# posture::warnings: the warning set of STYLE.md G9, linked by every target of ours.
add_library(posture_warnings INTERFACE)
add_library(posture::warnings ALIAS posture_warnings)
target_compile_options(posture_warnings INTERFACE
    -Wall -Wextra -Wshadow -Wformat=2 -Wstrict-prototypes -Wmissing-prototypes
    -Wimplicit-fallthrough -Wundef -Wvla -Wcast-align -Wnull-dereference
    -Wno-unused-parameter)
if(POSTURE_WERROR)
    target_compile_options(posture_warnings INTERFACE -Werror)
endif()
# Linux-only project: the GNU/Linux API (openat2 constants, pipe2, strerrorname_np, nftw) everywhere.
target_compile_definitions(posture_warnings INTERFACE _GNU_SOURCE)
