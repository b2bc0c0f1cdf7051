# Build-wide instrumentation and hardening, driven by cache options so that presets choose.
if(POSTURE_SANITIZE)
    list(JOIN POSTURE_SANITIZE "," _posture_san)
    add_compile_options(-fsanitize=${_posture_san} -fno-sanitize-recover=all -fno-omit-frame-pointer)
    add_link_options(-fsanitize=${_posture_san})
endif()

if(POSTURE_COVERAGE)
    add_compile_options(--coverage -O0)
    add_link_options(--coverage)
endif()

if(POSTURE_HARDEN)
    set(CMAKE_POSITION_INDEPENDENT_CODE ON)
    include(CheckPIESupported)
    check_pie_supported()
    # FORTIFY needs optimisation; release presets build with -O2.
    add_compile_options(-U_FORTIFY_SOURCE -D_FORTIFY_SOURCE=3 -fstack-protector-strong
                        -fstack-clash-protection -fcf-protection)
    add_link_options(-Wl,-z,relro,-z,now,-z,noexecstack -pie)
    # Reproducible binaries: no build path in them (__FILE__ of asserts and logs, debug info),
    # so the same commit built in another directory gives the same bytes (and build ID).
    add_compile_options("-ffile-prefix-map=${PROJECT_SOURCE_DIR}/=" "-ffile-prefix-map=${PROJECT_BINARY_DIR}/=")
endif()

if(POSTURE_BUILD_FUZZERS)
    # Coverage instrumentation for every object (our libraries too), not only the fuzz targets,
    # so that libFuzzer is guided by the code under test. Linking libFuzzer itself stays with the
    # fuzz binaries (tests/fuzz/CMakeLists.txt).
    add_compile_options(-fsanitize=fuzzer-no-link)
endif()
