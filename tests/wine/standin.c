/* A stand-in for a Windows app, started by the key's launchers in the Wine tests.
 *
 * It records what it was given (command line, working folder, environment) in
 * %STANDIN_OUT%\<program name>.txt, then writes its "settings" the ways real apps do:
 * through %APPDATA% and %LOCALAPPDATA%, through the shell-folder API (SHGetFolderPathW),
 * and in the registry (HKCU\\%STANDIN_REGKEY%). Each settings file holds a run counter read back from the previous
 * run, so a test sees that the same data is reused from another drive letter. */
#include <windows.h>
#include <shlobj.h>
#include <stdio.h>
#include <wchar.h>

static void put(HANDLE out, const wchar_t *text) {
    char buf[8192];
    int n = WideCharToMultiByte(CP_UTF8, 0, text, -1, buf, sizeof buf, NULL, NULL);
    DWORD written;
    if (n > 1) WriteFile(out, buf, (DWORD)(n - 1), &written, NULL);
}

/* Read the counter in dir\StandIn\name, write it back plus one. */
static void bump(const wchar_t *dir, const wchar_t *name) {
    wchar_t path[MAX_PATH * 2];
    int count = 0;
    if (!dir || !*dir) return;
    swprintf(path, MAX_PATH * 2, L"%ls\\StandIn", dir);
    CreateDirectoryW(path, NULL);
    swprintf(path, MAX_PATH * 2, L"%ls\\StandIn\\%ls", dir, name);
    FILE *f = _wfopen(path, L"r");
    if (f) { if (fscanf(f, "%d", &count) != 1) count = 0; fclose(f); }
    f = _wfopen(path, L"w");
    if (f) { fprintf(f, "%d\n", count + 1); fclose(f); }
}

int main(void) {
    wchar_t self[MAX_PATH], cwd[MAX_PATH], out_dir[MAX_PATH], path[MAX_PATH * 2], folder[MAX_PATH];
    const wchar_t *base;
    GetModuleFileNameW(NULL, self, MAX_PATH);
    base = wcsrchr(self, L'\\') ? wcsrchr(self, L'\\') + 1 : self;
    GetCurrentDirectoryW(MAX_PATH, cwd);
    if (!GetEnvironmentVariableW(L"STANDIN_OUT", out_dir, MAX_PATH)) return 2;
    swprintf(path, MAX_PATH * 2, L"%ls\\%ls.txt", out_dir, base);
    HANDLE out = CreateFileW(path, GENERIC_WRITE, 0, NULL, CREATE_ALWAYS, FILE_ATTRIBUTE_NORMAL, NULL);
    if (out == INVALID_HANDLE_VALUE) return 3;
    put(out, L"program="); put(out, self); put(out, L"\n");
    put(out, L"cwd="); put(out, cwd); put(out, L"\n");
    int argc;
    wchar_t **argv = CommandLineToArgvW(GetCommandLineW(), &argc);
    for (int i = 1; argv && i < argc; i++) { put(out, L"arg="); put(out, argv[i]); put(out, L"\n"); }
    wchar_t *env = GetEnvironmentStringsW();
    for (wchar_t *e = env; e && *e; e += wcslen(e) + 1) { put(out, L"env="); put(out, e); put(out, L"\n"); }
    FreeEnvironmentStringsW(env);

    wchar_t value[MAX_PATH];
    if (GetEnvironmentVariableW(L"APPDATA", value, MAX_PATH)) bump(value, L"env-roaming.txt");
    if (GetEnvironmentVariableW(L"LOCALAPPDATA", value, MAX_PATH)) bump(value, L"env-local.txt");
    if (SHGetFolderPathW(NULL, CSIDL_APPDATA | CSIDL_FLAG_CREATE, NULL, 0, folder) == S_OK) {
        put(out, L"shell-appdata="); put(out, folder); put(out, L"\n");
        bump(folder, L"shell-roaming.txt");
    }
    if (SHGetFolderPathW(NULL, CSIDL_LOCAL_APPDATA | CSIDL_FLAG_CREATE, NULL, 0, folder) == S_OK) {
        put(out, L"shell-localappdata="); put(out, folder); put(out, L"\n");
        bump(folder, L"shell-local.txt");
    }
    HKEY key;
    wchar_t subkey[MAX_PATH] = L"Software\\PackbuilderStandIn";
    GetEnvironmentVariableW(L"STANDIN_REGKEY", subkey, MAX_PATH); /* the key a recipe declares */
    if (RegCreateKeyExW(HKEY_CURRENT_USER, subkey, 0, NULL, 0, KEY_ALL_ACCESS, NULL, &key, NULL) == ERROR_SUCCESS) {
        DWORD runs = 0, size = sizeof runs;
        RegQueryValueExW(key, L"runs", NULL, NULL, (BYTE *)&runs, &size);
        runs++;
        RegSetValueExW(key, L"runs", 0, REG_DWORD, (const BYTE *)&runs, sizeof runs);
        RegCloseKey(key);
        wchar_t line[64];
        swprintf(line, 64, L"registry-runs=%lu\n", (unsigned long)runs);
        put(out, line);
    }
    put(out, L"done=1\n");
    CloseHandle(out);
    return 0;
}
