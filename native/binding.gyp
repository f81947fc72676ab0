{
  "variables": {
    "openblas_include%": "/usr/include/x86_64-linux-gnu/openblas-pthread",
    "openblas_libdir%": "/usr/lib/x86_64-linux-gnu/openblas-pthread"
  },
  "targets": [
    {
      "target_name": "spruft_blas",
      "sources": ["src/blas.c"],
      "include_dirs": ["<(openblas_include)"],
      "cflags": ["-O2", "-std=c11", "-ffp-contract=off", "-fno-fast-math", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "libraries": ["-L<(openblas_libdir)", "-Wl,-rpath,<(openblas_libdir)", "-lopenblas"]
    }
  ]
}
