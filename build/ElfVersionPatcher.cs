#nullable enable
// Marks selected symbol-version needs of an ELF64 shared library as weak (VER_FLG_WEAK).
//
// Why: TorchSharp 0.107's libLibTorchSharp.so records a need for GLIBCXX_3.4.32, which the
// libstdc++ of Debian 12 / Ubuntu 22.04 does not define, so the loader refuses the library.
// The only symbol bound to that version (std::ios_base_library_init) is never called, and a
// weak version need lets the loader continue when the version is absent. The file is compiled
// both into an MSBuild inline task (build/TorchSharpNative.targets) and into the test suite.
using System;
using System.Collections.Generic;
using System.IO;
using System.Text;

namespace LGMSNet.Build
{
    public static class ElfVersionPatcher
    {
        private const uint ShtGnuVerneed = 0x6ffffffe;
        private const ushort VerFlagWeak = 0x2;

        /// <summary>Version needs of the library: (version name, file it is needed from, weak?).</summary>
        public static List<Tuple<string, string, bool>> ReadVersionNeeds(byte[] elf)
        {
            var needs = new List<Tuple<string, string, bool>>();
            Walk(elf, (name, file, flagsOffset) =>
                needs.Add(Tuple.Create(name, file, (ReadU16(elf, flagsOffset) & VerFlagWeak) != 0)));
            return needs;
        }

        /// <summary>Sets VER_FLG_WEAK on every need whose version name is in <paramref name="versions"/>.
        /// Returns the names that were changed (already-weak needs are left alone).</summary>
        public static List<string> MakeWeak(byte[] elf, ICollection<string> versions) => SetWeak(elf, versions, true);

        /// <summary>Sets or clears VER_FLG_WEAK on the listed version needs; returns those changed.</summary>
        public static List<string> SetWeak(byte[] elf, ICollection<string> versions, bool weak)
        {
            var changed = new List<string>();
            Walk(elf, (name, file, flagsOffset) =>
            {
                if (!versions.Contains(name)) return;
                ushort flags = ReadU16(elf, flagsOffset);
                ushort updated = weak ? (ushort)(flags | VerFlagWeak) : (ushort)(flags & ~VerFlagWeak);
                if (updated == flags) return;
                WriteU16(elf, flagsOffset, updated);
                changed.Add(name);
            });
            return changed;
        }

        /// <summary>True when the bytes of a shared library define the given version string.</summary>
        public static bool DefinesVersion(byte[] library, string version)
        {
            byte[] needle = Encoding.ASCII.GetBytes(version + "\0");
            for (int i = 0; i + needle.Length <= library.Length; i++)
            {
                int j = 0;
                while (j < needle.Length && library[i + j] == needle[j]) j++;
                if (j == needle.Length && (i == 0 || library[i - 1] == 0)) return true;
            }
            return false;
        }

        private static void Walk(byte[] elf, Action<string, string, int> onNeed)
        {
            if (elf.Length < 64 || elf[0] != 0x7f || elf[1] != (byte)'E' || elf[2] != (byte)'L' || elf[3] != (byte)'F')
                throw new InvalidDataException("not an ELF file");
            if (elf[4] != 2 || elf[5] != 1)
                throw new InvalidDataException("only little-endian ELF64 files are supported");

            long sectionTable = (long)ReadU64(elf, 0x28);
            int entrySize = ReadU16(elf, 0x3A);
            int count = ReadU16(elf, 0x3C);
            Check(elf, sectionTable, (long)entrySize * count);

            for (int s = 0; s < count; s++)
            {
                long header = sectionTable + (long)s * entrySize;
                if (ReadU32(elf, header + 4) != ShtGnuVerneed) continue;

                long offset = (long)ReadU64(elf, header + 0x18);
                uint link = ReadU32(elf, header + 0x28);
                uint needCount = ReadU32(elf, header + 0x2C); // sh_info: number of Verneed entries
                long stringTable = (long)ReadU64(elf, sectionTable + (long)link * entrySize + 0x18);

                long need = offset;
                for (uint n = 0; n < needCount; n++)
                {
                    Check(elf, need, 16);
                    ushort auxCount = ReadU16(elf, need + 2);
                    string file = ReadString(elf, stringTable + ReadU32(elf, need + 4));
                    long aux = need + ReadU32(elf, need + 8);
                    for (int a = 0; a < auxCount; a++)
                    {
                        Check(elf, aux, 16);
                        string name = ReadString(elf, stringTable + ReadU32(elf, aux + 8));
                        onNeed(name, file, checked((int)(aux + 4)));
                        uint nextAux = ReadU32(elf, aux + 12);
                        if (nextAux == 0) break;
                        aux += nextAux;
                    }
                    uint nextNeed = ReadU32(elf, need + 12);
                    if (nextNeed == 0) break;
                    need += nextNeed;
                }
            }
        }

        private static void Check(byte[] b, long offset, long length)
        {
            if (offset < 0 || length < 0 || offset + length > b.Length)
                throw new InvalidDataException("ELF structure points outside the file");
        }

        private static string ReadString(byte[] b, long offset)
        {
            Check(b, offset, 1);
            long end = offset;
            while (end < b.Length && b[end] != 0) end++;
            return Encoding.ASCII.GetString(b, (int)offset, (int)(end - offset));
        }

        private static ushort ReadU16(byte[] b, long o) { Check(b, o, 2); return (ushort)(b[o] | b[o + 1] << 8); }
        private static uint ReadU32(byte[] b, long o) { Check(b, o, 4); return (uint)(b[o] | b[o + 1] << 8 | b[o + 2] << 16 | b[o + 3] << 24); }
        private static ulong ReadU64(byte[] b, long o) => ReadU32(b, o) | (ulong)ReadU32(b, o + 4) << 32;
        private static void WriteU16(byte[] b, long o, ushort v) { Check(b, o, 2); b[o] = (byte)v; b[o + 1] = (byte)(v >> 8); }
    }

#if !LGMS_NO_MSBUILD_TASK
    /// <summary>MSBuild task: weakens the listed GLIBCXX version needs of the libLibTorchSharp.so
    /// copies in an output folder, but only when the host's libstdc++ lacks those versions.</summary>
    public sealed class WeakenMissingGlibcxxVersions : Microsoft.Build.Utilities.Task
    {
        [Microsoft.Build.Framework.Required] public string Directory { get; set; } = "";
        [Microsoft.Build.Framework.Required] public string Versions { get; set; } = "";

        private static readonly string[] LibStdCxxCandidates =
        {
            "/usr/lib/x86_64-linux-gnu/libstdc++.so.6", "/lib/x86_64-linux-gnu/libstdc++.so.6",
            "/usr/lib/aarch64-linux-gnu/libstdc++.so.6", "/usr/lib64/libstdc++.so.6",
            "/lib64/libstdc++.so.6", "/usr/lib/libstdc++.so.6",
        };

        public override bool Execute()
        {
            if (!System.IO.Directory.Exists(Directory)) return true;
            var targets = System.IO.Directory.GetFiles(Directory, "libLibTorchSharp.so", SearchOption.AllDirectories);
            if (targets.Length == 0) return true;

            string? hostLibrary = null;
            foreach (var candidate in LibStdCxxCandidates)
                if (File.Exists(candidate)) { hostLibrary = candidate; break; }
            if (hostLibrary == null) return true; // cannot tell what the host has: leave the file as shipped

            byte[] host = File.ReadAllBytes(hostLibrary);
            var missing = new HashSet<string>();
            foreach (var v in Versions.Split(new[] { ';', ',' }, StringSplitOptions.RemoveEmptyEntries))
                if (!ElfVersionPatcher.DefinesVersion(host, v.Trim())) missing.Add(v.Trim());
            if (missing.Count == 0) return true;

            foreach (var target in targets)
            {
                byte[] elf = File.ReadAllBytes(target);
                var changed = ElfVersionPatcher.MakeWeak(elf, missing);
                if (changed.Count == 0) continue;
                string temporary = target + ".patching";
                File.WriteAllBytes(temporary, elf);
                // A rename, never a write into the target: the output copy may be a hard link into the NuGet cache
                // (CreateHardLinksForCopyLocalIfPossible), and the cache's file must stay as shipped.
                File.Replace(temporary, target, null);
                Log.LogMessage(Microsoft.Build.Framework.MessageImportance.High,
                    "LGMSNet: {0} lacks {1}; marked that version need weak in {2} (see README, Troubleshooting).",
                    hostLibrary, string.Join(", ", changed), target);
            }
            return true;
        }
    }
#endif
}
