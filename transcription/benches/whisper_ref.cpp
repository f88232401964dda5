// Reference program for transcription/benches/compare.sh: whisper.cpp's `whisper-cli` default
// path, reduced to what a benchmark needs. The whisper.cpp sources vendored by whisper-rs-sys
// contain the library but not its examples/, so this file replicates whisper-cli's defaults
// (examples/cli/cli.cpp, 1.8.x): beam search with beam size 5 (best_of 5), language "en",
// temperature 0 with 0.2 fallback steps, entropy 2.4, logprob -1.0, no-speech 0.6, full 30 s
// encoder window; input a 16 kHz mono 16-bit WAV (whisper-cli also wants 16 kHz audio).
// It is built from the same whisper.cpp sources and linked the same way (static, no OpenMP).
//
// usage: whisper_ref -m MODEL -t THREADS [-g] FILE.wav
//   -g: greedy decoding (best_of 1) instead of the CLI's beam search: walkie's decoding
//       settings, for a same-words comparison.
#include "whisper.h"

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

static bool read_wav16(const char *path, std::vector<float> &out) {
    std::ifstream f(path, std::ios::binary);
    if (!f) return false;
    std::vector<char> b((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    if (b.size() < 12 || memcmp(b.data(), "RIFF", 4) || memcmp(b.data() + 8, "WAVE", 4)) return false;
    size_t pos = 12;
    while (pos + 8 <= b.size()) {
        uint32_t size;
        memcpy(&size, b.data() + pos + 4, 4);
        if (!memcmp(b.data() + pos, "data", 4)) {
            size_t n = std::min<size_t>(size, b.size() - pos - 8) / 2;
            out.resize(n);
            for (size_t i = 0; i < n; i++) {
                int16_t s;
                memcpy(&s, b.data() + pos + 8 + 2 * i, 2);
                out[i] = s / 32768.0f;
            }
            return true;
        }
        pos += 8 + size + (size & 1);
    }
    return false;
}

int main(int argc, char **argv) {
    std::string model, file;
    int threads = 4;
    bool greedy = false;
    for (int i = 1; i < argc; i++) {
        std::string a = argv[i];
        if (a == "-m" && i + 1 < argc) model = argv[++i];
        else if (a == "-t" && i + 1 < argc) threads = std::stoi(argv[++i]);
        else if (a == "-g") greedy = true;
        else file = a;
    }
    std::vector<float> pcm;
    if (!read_wav16(file.c_str(), pcm)) {
        fprintf(stderr, "cannot read %s\n", file.c_str());
        return 1;
    }
    whisper_context_params cparams = whisper_context_default_params();
    whisper_context *ctx = whisper_init_from_file_with_params(model.c_str(), cparams);
    if (!ctx) return 2;
    whisper_full_params wparams =
        whisper_full_default_params(greedy ? WHISPER_SAMPLING_GREEDY : WHISPER_SAMPLING_BEAM_SEARCH);
    wparams.print_realtime = false;
    wparams.print_progress = false;
    wparams.print_timestamps = true;
    wparams.print_special = false;
    wparams.translate = false;
    wparams.language = "en";
    wparams.n_threads = threads;
    wparams.greedy.best_of = greedy ? 1 : 5;
    wparams.beam_search.beam_size = 5;
    wparams.temperature = 0.0f;
    wparams.temperature_inc = 0.2f;
    wparams.entropy_thold = 2.4f;
    wparams.logprob_thold = -1.0f;
    wparams.no_speech_thold = 0.6f;
    if (whisper_full(ctx, wparams, pcm.data(), (int)pcm.size()) != 0) return 3;
    for (int i = 0; i < whisper_full_n_segments(ctx); i++) printf("%s\n", whisper_full_get_segment_text(ctx, i));
    whisper_free(ctx);
    return 0;
}
