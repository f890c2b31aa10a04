# SPDX-License-Identifier: MIT
# Pure helpers of the hosttune NixOS module: the policy value syntax (sizes, requirement tokens),
# a small reader for the shipped INI profiles, and the INI writer. nixpkgs `lib` only, so the
# module's evaluation tests run without the nixpkgs package set.
{ lib }:
let
  inherit (builtins)
    elemAt
    isString
    length
    foldl'
    head
    match
    stringLength
    substring
    ;
  inherit (lib)
    all
    concatMap
    concatStringsSep
    filter
    filterAttrs
    hasPrefix
    hasSuffix
    isBool
    isList
    mapAttrs
    mapAttrsToList
    optional
    splitString
    ;

  # Digits of a base (10, or 8 for modes) to an integer; leading zeros are fine (fromJSON rejects
  # them).
  digitsInBase =
    base: s: foldl' (acc: c: acc * base + (lib.strings.charToInt c - 48)) 0 (lib.stringToCharacters s);
  digitsToInt = digitsInBase 10;

  unitShift = {
    K = 10;
    M = 20;
    G = 30;
    T = 40;
    P = 50;
    E = 60;
  };

  pow2 = n: if n == 0 then 1 else 2 * pow2 (n - 1);

  isPowerOfTwo = n: n > 0 && (n == 1 || (lib.mod n 2 == 0 && isPowerOfTwo (n / 2)));

  trim =
    s:
    let
      m = match "[[:space:]]*(.*[^[:space:]])?[[:space:]]*" s;
    in
    if m == null || head m == null then "" else head m;

  # The value part of a line with an inline comment removed: inih treats ";" after whitespace as
  # the start of a comment; the shipped profiles also never put " #" inside a value.
  stripInlineComment =
    v:
    let
      m = match "(.*[^[:space:]])?[[:space:]]+[;#].*" v;
    in
    if m == null then v else if head m == null then "" else head m;
in
rec {
  inherit trim;

  # A size as policies read it (lib/parse.c parse_size): 2G, 512M, 1.5G, 64K, 4096B, 10% (of RAM).
  # The unit letter is case-insensitive and may be followed by B or iB. A plain number is bytes,
  # except for a hugepage pool, where it is a count of pages.
  sizePattern = "([0-9]+(\\.[0-9]+)?([KkMmGgTtPpEe](iB|B|b)?|%)|[0-9]+B?)";
  isSize = s: match sizePattern s != null;

  # Parse a size: { percent = true; } for "10%", { count = N; } for a plain number (bytes, or pages
  # of a pool), { bytes = N; } otherwise; null when it is not a size.
  parseSize =
    s:
    let
      m = match "([0-9]+)(\\.([0-9]+))?(([KkMmGgTtPpEe])(iB|B|b)?|%|B)?" s;
      whole = digitsToInt (elemAt m 0);
      fracDigits = elemAt m 2;
      suffix = elemAt m 3;
      unit = elemAt m 4;
      mult = if unit == null then 1 else pow2 unitShift.${lib.toUpper unit};
      # Up to 9 fractional digits count, as in parse_size(); mult * frac / 10^digits.
      frac = if fracDigits == null then "" else substring 0 9 fracDigits;
      fracDiv = foldl' (a: _: a * 10) 1 (lib.stringToCharacters frac);
      fracBytes = if frac == "" then 0 else mult * digitsToInt frac / fracDiv;
    in
    if m == null then
      null
    else if suffix == "%" then
      {
        percent = true;
        # parse_size() refuses more than 100%; a zero amount is refused where it matters.
        zero = whole == 0 && (frac == "" || digitsToInt frac == 0);
        over = whole > 100 || (whole == 100 && frac != "" && digitsToInt frac > 0);
      }
    else if unit == null && fracDigits != null then
      null # fractional bytes make no sense
    else if suffix == null then
      { count = whole; }
    else
      { bytes = whole * mult + fracBytes; };

  # Bytes of a size that names a page size ("2M", "1G"); null for anything else.
  pageSizeBytes =
    s:
    let
      p = parseSize s;
    in
    if p == null || p ? percent then null else p.bytes or p.count;

  # Requirement tokens of `hosttune check --require` and [readiness] require
  # (policies/readiness.c); tests/integration/test-nixos-module.sh checks this list against the C
  # table so the two cannot drift apart.
  plainRequirements = [
    "kvm"
    "rng"
    "hwrng"
    "tun"
    "vhost-net"
    "vhost-vsock"
    "userfaultfd"
    "userns"
    "zram"
    "btrfs"
    "nix"
    "no-swap"
    "smt-off"
    "ksm-off"
  ];
  valuedRequirements = [
    "hugepages"
    "snapshots"
    "taps"
  ];
  knownRequirements = "kvm, hugepages=SIZE[:PAGESIZE], rng, hwrng, tun, vhost-net, vhost-vsock, userfaultfd, userns, snapshots=N, taps=N, zram, btrfs, nix, no-swap, smt-off, ksm-off";

  # null when tok is a valid requirement, else what is wrong with it (the C parser's wording).
  requirementError =
    tok:
    let
      m = match "([^=]*)(=(.*))?" tok;
      name = elemAt m 0;
      hasValue = elemAt m 1 != null;
      value = elemAt m 2;
      known = lib.elem name (plainRequirements ++ valuedRequirements);
      takesValue = lib.elem name valuedRequirements;
      hp = match "([^:]*)(:(.*))?" value;
      amount = elemAt hp 0;
      pageSize = elemAt hp 2;
      amountParsed = parseSize amount;
      countOk = match "[0-9]+" value != null && digitsToInt value >= 1 && digitsToInt value <= 65535;
    in
    if name == "" || stringLength name >= 32 then
      "bad requirement '${tok}'"
    else if !known then
      "unknown requirement '${name}' (known: ${knownRequirements})"
    else if takesValue != hasValue then
      if takesValue then
        "requirement '${tok}' needs a value ('${name}=...')"
      else
        "requirement '${tok}' takes no value ('${name}')"
    else if name == "hugepages" then
      if
        amount == ""
        || amountParsed == null
        || (amountParsed.bytes or amountParsed.count or 1) == 0
        || (amountParsed.zero or false)
        || (amountParsed.over or false)
      then
        "bad size '${amount}' in '${tok}' (use 2G, 512M, 10%)"
      else if pageSize != null && !(pageSizeBytes pageSize != null && isPowerOfTwo (pageSizeBytes pageSize)) then
        "bad page size '${pageSize}' in '${tok}' (use 2M or 1G)"
      else
        null
    else if takesValue && !countOk then
      "bad count in '${tok}' (1..65535)"
    else
      null;

  # Requirement lists as the C parser splits them: commas and/or whitespace.
  splitRequirements = s: filter (t: t != "") (lib.flatten (builtins.split "[,[:space:]]+" s));

  # --- reading the shipped profiles -------------------------------------------------------------

  # Parse INI text into { section = { key = "value"; }; } the way the policy loader reads it:
  # "#" and ";" comments, inline "; comment", continuation lines (starting with whitespace) that
  # extend the previous key's list. Values stay strings. Used only for the facts the module needs
  # from a shipped profile (taps, hugepage pools, mounts, requirements), never to rewrite it.
  parseIni =
    text:
    let
      step =
        acc: line:
        let
          t = trim line;
          section = match "[[]([^]]*)[]].*" t;
          kv = match "([^=]+)=(.*)" t;
          continuation = match "[[:space:]]+.*" line != null;
        in
        if t == "" || hasPrefix "#" t || hasPrefix ";" t then
          acc
        else if section != null then
          acc // { section = trim (head section); }
        else if continuation && acc.key != null then
          let
            old = acc.data.${acc.section}.${acc.key};
          in
          setValue acc acc.key "${old} ${stripInlineComment t}"
        else if kv != null then
          setValue acc (trim (elemAt kv 0)) (trim (stripInlineComment (elemAt kv 1)))
        else
          acc;
      setValue =
        acc: key: value:
        acc
        // {
          inherit key;
          data = acc.data // {
            ${acc.section} = (acc.data.${acc.section} or { }) // {
              ${key} = value;
            };
          };
        };
    in
    (foldl' step {
      section = "";
      key = null;
      data = { };
    } (splitString "\n" text)).data;

  # The effective sections of a shipped profile: its includes (other shipped profiles, by name)
  # first, its own values on top, as the loader merges them. requires are unioned, because the
  # module only uses them to decide what the Nix sandbox must see.
  profileSections =
    profilesDir: name:
    let
      go =
        depth: n:
        let
          own = parseIni (builtins.readFile (profilesDir + "/${n}.ini"));
          includes = splitRequirements (own.policy.include or "");
          bases = map (go (depth + 1)) (filter (i: builtins.pathExists (profilesDir + "/${i}.ini")) includes);
        in
        if depth > 8 then { } else foldl' mergeSections { } (bases ++ [ own ]);
    in
    go 0 name;

  # b on top of a, section by section, as the loader merges files: readiness.require lists are
  # joined, except that an empty list starts afresh.
  mergeSections =
    a: b:
    a
    // mapAttrs (
      s: v:
      let
        merged = (a.${s} or { }) // v;
      in
      if s == "readiness" && a ? readiness.require && v ? require && v.require != "" then
        merged // { require = "${a.readiness.require}, ${v.require}"; }
      else
        merged
    ) b;

  # --- writing the policy -----------------------------------------------------------------------

  # An INI value as the policy loader reads it (lib/parse.c): yes/no for booleans, lists joined
  # with ", ", numbers and strings as they are.
  iniValue =
    v:
    if isBool v then
      (if v then "yes" else "no")
    else if isList v then
      concatStringsSep ", " (map iniValue v)
    else
      toString v;

  # Sections without their unset (null) keys, and without sections left empty.
  pruneSections =
    sections:
    filterAttrs (_: keys: keys != { }) (mapAttrs (_: filterAttrs (_: v: v != null)) sections);

  # The policy file: [policy] first (its include must be read before anything it could
  # override), then every other section in name order, keys in name order.
  toPolicyIni =
    header: sections:
    let
      s = pruneSections sections;
      gen = lib.generators.toINI { mkKeyValue = k: v: "${k} = ${iniValue v}"; };
    in
    header + gen (lib.optionalAttrs (s ? policy) { inherit (s) policy; }) + (lib.optionalString (s ? policy && removeAttrs s [ "policy" ] != { }) "\n") + gen (removeAttrs s [ "policy" ]);

  # Every value that would break the INI file (a newline ends a value; "[" starts a section),
  # as "section.key" names.
  unsafeIniValues =
    sections:
    concatMap (
      s:
      concatMap (
        k:
        let
          v = sections.${s}.${k};
          strs = if isList v then v else [ v ];
        in
        optional (lib.any (x: builtins.isString x && match ".*[\n\r].*" x != null) strs) "${s}.${k}"
      ) (builtins.attrNames sections.${s})
    ) (builtins.attrNames sections);

  # --- every key against the C key table ----------------------------------------------------------

  octalToInt = digitsInBase 8;

  # What is wrong with the INI value v of a key whose table entry is d (policy-keys.json, exported
  # from policies/keys.c), in the words of the C loader; null when nothing is. Syntax the table
  # names but this does not know passes (the build-time validator still sees it).
  valueError =
    d: v:
    let
      lower = lib.toLower v;
      isKeep = d.keep && v == "keep";
      isBool = lib.elem lower [
        "1"
        "yes"
        "y"
        "true"
        "on"
        "0"
        "no"
        "n"
        "false"
        "off"
      ];
      intMatch = match "(-?)([0-9]+)" v;
      intValue =
        if intMatch == null then null else (if elemAt intMatch 0 == "-" then -1 else 1) * digitsToInt (elemAt intMatch 1);
      intOk = intValue != null && stringLength (elemAt intMatch 1) <= 18 && intValue >= d.min && intValue <= d.max;
      size = parseSize v;
      isFixedSize = size != null && !(size ? percent);
      sizeBytes = size.bytes or size.count or 0;
      percentOk = size != null && size ? percent && !size.over;
      durationMatch = match "([0-9]+)(us|ms|s|sec|m|min|h)?[[:space:]]*" v;
      durationUsec =
        let
          unit = elemAt durationMatch 1;
          mult = {
            us = 1;
            ms = 1000;
            s = 1000000;
            sec = 1000000;
            m = 60000000;
            min = 60000000;
            h = 3600000000;
          };
        in
        digitsToInt (elemAt durationMatch 0) * (if unit == null then 1000000 else mult.${unit});
      isOctal = match "[0-7]+" v != null && stringLength v <= 6;
      nameChars = extra: s: match "[A-Za-z0-9${extra}]+" s != null;
      tooLong = d ? max-length && stringLength v > d.max-length;
      hasControl = match ".*[[:cntrl:]].*" v != null;
      pathError =
        if hasControl then
          "must not hold control characters"
        else if !(hasPrefix "/" v) then
          "must be an absolute path"
        else if lib.any (c: c == "." || c == "..") (lib.splitString "/" v) then
          "must not contain '.' or '..' components"
        else
          null;
      # The allow-lists of policies/paths.c (policy_path_refused), lexically as the C code does
      # them: the same answer on every host. The one host-dependent refusal (an existing output
      # that is not a regular file) is left to `hosttune policy validate` at build time.
      pathComps = x: filter (c: isString c && c != "") (builtins.split "/+" x);
      vComps = pathComps v;
      vNorm = "/" + concatStringsSep "/" vComps;
      depthBelow =
        dir:
        let
          d = pathComps dir;
          n = length d;
        in
        if length vComps > n && lib.take n vComps == d then length vComps - n else 0;
      scratch = depthBelow "/tmp" >= 2 || depthBelow "/var/tmp" >= 2;
      agentOwn =
        vNorm == "/run/hosttune"
        || (
          depthBelow "/run/hosttune" == 1
          && lib.any (o: hasPrefix o (lib.last vComps)) [
            "journal."
            "leases."
            "agent.state"
            "ready.json"
            "lease.sock"
            "policy-in-force."
          ]
        );
      hugepagesDir = dir: depthBelow dir >= 1 && hasPrefix "hugepages" (elemAt vComps (length (pathComps dir)));
      ownRefusal = if agentOwn then "is the agent's runtime directory or one of its own files, not an output file" else null;
      pathRefused = {
        mount =
          if agentOwn then
            "is the agent's runtime directory, not a place for a hugetlbfs mount"
          else if
            hugepagesDir "/dev"
            || hugepagesDir "/run"
            || depthBelow "/run/hosttune" >= 1
            || depthBelow "/mnt" >= 1
            || depthBelow "/srv" >= 1
            || scratch
          then
            null
          else
            "is not a place for a hugetlbfs mount (allowed: /dev/hugepages*, /run/hugepages*, below /run/hosttune/, /mnt/ or /srv/, or inside a directory below /tmp/ or /var/tmp/)";
        snapshot-root =
          if depthBelow "/var/lib" >= 1 || depthBelow "/srv" >= 1 || depthBelow "/mnt" >= 1 || scratch then
            null
          else
            "is not a place for the snapshot root (allowed: below /var/lib/, /srv/ or /mnt/, or inside a directory below /tmp/ or /var/tmp/)";
        metrics =
          if !(hasSuffix ".prom" vNorm) then
            "must end in .prom (node_exporter's textfile collector reads only those)"
          else if !(depthBelow "/run" >= 2 || depthBelow "/var/lib" >= 2 || scratch) then
            "is not a place for the metrics file (allowed: inside a directory below /run/ or /var/lib/, or inside a directory below /tmp/ or /var/tmp/)"
          else
            ownRefusal;
        features =
          if vNorm == "/etc/nix/nix.conf" then
            "is nix.conf itself, not a file for nix.conf to !include"
          else if !(depthBelow "/etc/nix" == 1 || depthBelow "/run/hosttune" == 1 || scratch) then
            "is not a place for the features file (allowed: in /etc/nix/ or /run/hosttune/, or inside a directory below /tmp/ or /var/tmp/)"
          else
            ownRefusal;
        nfd =
          let
            inFeaturesD =
              length vComps >= 2
              && elemAt vComps (length vComps - 2) == "features.d"
              && (depthBelow "/etc" >= 2 || depthBelow "/run" >= 2 || depthBelow "/var/lib" >= 2);
          in
          if !inFeaturesD && !scratch then
            "is not a place for the node-feature-discovery file (allowed: in a features.d directory below /etc/, /run/ or /var/lib/, or inside a directory below /tmp/ or /var/tmp/)"
          else
            ownRefusal;
        input =
          if depthBelow "/dev" >= 1 || depthBelow "/proc" >= 1 || depthBelow "/sys" >= 1 || lib.elem vNorm [ "/dev" "/proc" "/sys" ] then
            "is a device or kernel file, not a configuration file"
          else
            null;
      };
      # check_path_kind: the syntax first, then the allow-list of the kind.
      pathKind =
        emptyOk: kind:
        if v == "" then
          (if emptyOk then null else "must not be empty")
        else if pathError != null then
          "${quoted} ${pathError}"
        else if stringLength vNorm > 255 then
          "${quoted} must be an absolute path of at most 255 characters"
        else
          lib.mapNullable (m: "${quoted} ${m}") pathRefused.${kind};
      userOk = v == "" || (match "[0-9]+" v != null && stringLength v <= 10) || match "[A-Za-z_][A-Za-z0-9_.-]{0,30}" v != null;
      ifnameError =
        max:
        if stringLength v > max then
          if max == 15 then "is longer than 15 characters (IFNAMSIZ)" else "is longer than 11 characters (room for the tap number)"
        else if !(nameChars "_.-" v) || v == "." || v == ".." then
          "may hold only letters, digits, '_', '.' and '-'"
        else
          null;
      items = splitRequirements v;
      quoted = "'${v}'";
      choices = d.choices or [ ];
      bySyntax = {
        bool = if isBool then null else "${quoted} is not a boolean (yes or no)";
        "bool-or-keep" = if isBool || v == "keep" then null else "${quoted} is not yes, no or keep";
        int =
          if isKeep || intOk then
            null
          else
            "${quoted} is not a number from ${toString d.min} to ${toString d.max}${lib.optionalString d.keep ", or keep"}";
        mode = if isOctal && octalToInt v <= d.max then null else "${quoted} is not an octal mode up to 0${octalString d.max}";
        "mode-or-keep" = if v == "keep" || (isOctal && octalToInt v <= 511) then null else "${quoted} is not an octal mode up to 0777, or keep";
        duration =
          if durationMatch != null && durationUsec <= d.max * 1000000 then
            null
          else
            "${quoted} is not a duration up to ${toString d.max}s (30s, 250ms, 5min)";
        choice =
          if isKeep || lib.elem v choices then
            null
          else
            "${quoted} is not one of ${concatStringsSep ", " choices}${lib.optionalString d.keep ", keep"}";
        reclaim = if lib.elem v [ "none" "compact" "drop-caches" ] then null else "${quoted} is not one of none, compact, drop-caches";
        rng = if lib.elem v [ "none" "crng" "hwrng" ] then null else "${quoted} is not one of none, crng, hwrng";
        "pool-size" =
          if v == "none" || isFixedSize || percentOk then
            null
          else
            "${quoted} is not a size (2G, 512M), a count of pages (1024), a percentage of RAM (25%) or none";
        "zram-size" =
          if v == "none" || (percentOk && !size.zero) || (size != null && size ? bytes && size.bytes >= 1048576) then
            null
          else
            "${quoted} is not a size of at least 1M (4G), a percentage of RAM (50%) or none";
        size = if isFixedSize then null else "${quoted} is not a size in bytes (512M, 2G, 0)";
        "page-size" =
          if isFixedSize && sizeBytes >= 65536 && isPowerOfTwo sizeBytes then
            null
          else
            "${quoted} is not a hugepage size (a power of two of at least 64K, such as 2M or 1G)";
        "per-node" =
          if
            v == "kernel" || v == "even" || (items != [ ] && all (i: match "[0-9]+:([^%]+)" i != null && isSize (lib.last (splitString ":" i))) items)
          then
            null
          else
            "must be kernel, even, or a list such as '0:1G 1:1G'";
        name =
          if v == "" then
            "must not be empty"
          else if !(nameChars "._-" v) then
            "${quoted} may hold only letters, digits, '.', '_' and '-'"
          else
            null;
        text =
          if hasControl then
            "${quoted} must not hold control characters"
          else if hasPrefix ";" v || hasPrefix "#" v then
            "${quoted} must not start with a comment character"
          else
            null;
        path = if v == "" then "must not be empty" else lib.mapNullable (m: "${quoted} ${m}") pathError;
        "path-or-empty" = if v == "" then null else lib.mapNullable (m: "${quoted} ${m}") pathError;
        # policies/keys.c check_nfd_features_file: NFD skips dot files, the agent stages under one.
        "nfd-features-file" =
          if v == "" then
            null
          else if pathError != null then
            "${quoted} ${pathError}"
          else if hasSuffix "/" v then
            "${quoted} must name a file, not a directory"
          else if hasPrefix "." (baseNameOf v) then
            "${quoted} must not start with '.': node-feature-discovery ignores such files"
          else
            pathKind true "nfd";
        mount-path-or-empty = pathKind true "mount";
        snapshot-root = pathKind false "snapshot-root";
        metrics-file-or-empty = pathKind true "metrics";
        features-file-or-empty = pathKind true "features";
        config-file = pathKind false "input";
        "user-or-group-or-empty" =
          if userOk then null else "${quoted} is not a valid user or group name (letters, digits, '_', '.', '-'; starting with a letter or '_'; at most 31 characters) or numeric id";
        "ifname-or-empty" = if v == "" then null else lib.mapNullable (m: "${quoted} ${m}") (ifnameError 15);
        "tap-prefix" = if v == "" then "must not be empty" else lib.mapNullable (m: "${quoted} ${m}") (ifnameError 11);
        "zram-device" = if match "zram[0-9]{1,4}" v != null then null else "${quoted} must be zramN (zram0, zram1, ...)";
        "algorithm-or-empty" =
          if v == "" || (stringLength v <= 31 && nameChars "_-" v) then
            null
          else
            "${quoted} must be a compression algorithm name such as zstd, lz4 or lzo-rle";
        names =
          if all (i: stringLength i <= 63 && nameChars "._-" i && i != "." && i != "..") items then
            null
          else
            "template names may hold only letters, digits, '.', '_' and '-' (at most 63 characters)";
        "btrfs-options" =
          if
            all (
              i:
              lib.elem i [
                "noatime"
                "ssd"
                "space_cache=v2"
                "discard=async"
                "compress"
              ]
              || match "compress=[A-Za-z0-9:-]+" i != null
            ) items
          then
            null
          else
            "hosttune can verify only noatime, ssd, space_cache=v2, discard=async, compress and compress=ALGORITHM[:LEVEL]";
      };
    in
    if tooLong then "longer than ${toString d.max-length} characters" else bySyntax.${d.syntax} or null;

  # Octal text of a number (for modes in messages).
  octalString = n: if n < 8 then toString n else octalString (n / 8) + toString (lib.mod n 8);

  # What the loader says about a [sysctl] key (policies/keys.c check_sysctl_key), null when fine.
  sysctlKeyError =
    table: k:
    let
      refused = lib.findFirst (r: r.key == k) null (table.refused-sysctls or [ ]);
    in
    if !(hasPrefix "vm." k || hasPrefix "kernel." k || hasPrefix "net." k) then
      "only keys under vm., kernel. and net. may be set"
    else if lib.hasInfix ".." k then
      "must not contain '..'"
    else if lib.hasInfix "/" k then
      "must not contain '/' (keys of interfaces whose names hold a dot cannot be set here)"
    else if lib.hasSuffix "." k then
      "must not end with '.'"
    else if match "[A-Za-z0-9._-]+" k == null then
      "may hold only letters, digits, '.', '_' and '-'"
    else if refused != null then
      refused.why
    else
      null;

  # Every section and key of `sections` (INI strings) against the key table: a list of
  # "section.key = value: what is wrong" (the caller prefixes the option path).
  settingsErrors =
    table: sections:
    let
      knownSections = filter (s: s != "hugepages-SIZE") table.sections;
      defsOf = section: filter (d: d.section == section) table.keys;
      keyNames = section: map (d: d.name) (defsOf section);
      checkSection =
        section: keys:
        let
          sizeName = lib.removePrefix "hugepages-" section;
          pageSize = pageSizeBytes sizeName;
          tableSection = if hasPrefix "hugepages-" section then "hugepages-SIZE" else section;
          # Named by each key, so the message carries the option path of a definition.
          sectionError =
            msg: map (key: "${section}.${key} = ${builtins.toJSON keys.${key}}: ${msg}") (builtins.attrNames keys);
        in
        if hasPrefix "hugepages-" section && !(pageSize != null && pageSize >= 65536 && isPowerOfTwo pageSize) then
          sectionError "[${section}]: '${sizeName}' is not a hugepage size (a power of two of at least 64K, such as 2M or 1G)"
        else if !(lib.elem section knownSections) && tableSection == section then
          sectionError "unknown section [${section}] (known: ${concatStringsSep ", " table.sections})"
        else
          concatMap (
            key:
            let
              v = keys.${key};
              d = lib.findFirst (d: d.name == key || d.name == "*") null (defsOf tableSection);
              err =
                if d == null then
                  "unknown key in [${section}] (known: ${concatStringsSep ", " (keyNames tableSection)})"
                else if d.syntax == "sysctl" then
                  sysctlKeyError table key
                else
                  valueError d v;
            in
            optional (err != null) "${section}.${key} = ${builtins.toJSON v}: ${err}"
          ) (builtins.attrNames keys);
    in
    concatMap (section: checkSection section sections.${section}) (builtins.attrNames sections);

  inherit isPowerOfTwo digitsToInt;
}
