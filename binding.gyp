{
  # One target. OpenSSL comes from the node binary itself: node-gyp puts Node's
  # include dir (which carries Node's OpenSSL headers) on the include path, and
  # the addon leaves every OpenSSL symbol undefined so it resolves against the
  # copy linked into node. Never add -lssl/-lcrypto here: that would load a
  # second OpenSSL into the process.
  "variables": {
    "memtls_sanitize%": "false"
  },
  "targets": [
    {
      "target_name": "memtls",
      "sources": [
        "native/addon.cc",
        "native/errors.cc",
        "native/memory_bio.cc",
        "native/ssl_context.cc",
        "native/ssl_object.cc",
        "native/ceiling_bench.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": [
        "NAPI_VERSION=8",
        "NAPI_DISABLE_CPP_EXCEPTIONS",
        "NODE_ADDON_API_DISABLE_DEPRECATED",
        "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS",
        "OPENSSL_API_COMPAT=0x10100000L"
      ],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17"],
      "cflags_cc": ["-std=c++17", "-fvisibility=hidden", "-Wall", "-Wextra", "-Wno-unused-parameter", "-O3"],
      "conditions": [
        ["memtls_sanitize=='true'", {
          "cflags_cc": ["-fsanitize=address,undefined", "-fno-omit-frame-pointer", "-O1", "-g"],
          "ldflags": ["-fsanitize=address,undefined"]
        }]
      ]
    }
  ]
}
