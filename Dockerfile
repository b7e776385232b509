# NCE Playground: the workshop sandbox.
#   docker build -t nce-playground .                      # CPU PyTorch (default)
#   docker run --rm -p 8000:8000 nce-playground           # open http://localhost:8000
#   docker build --build-arg TORCH_INDEX=https://download.pytorch.org/whl/cu124 -t nce-playground:cuda .
#   docker run --rm --gpus all -p 8000:8000 nce-playground:cuda
# PyTorch's CUDA wheels carry the CUDA runtime; the host's NVIDIA driver comes in through --gpus.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
# binutils only for `strip` below; this stage is thrown away
# hadolint ignore=DL3008
RUN apt-get update && apt-get install -y --no-install-recommends binutils && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
# torch first, from the chosen index (CPU or CUDA build); the app's own requirement is open
RUN pip install --index-url "${TORCH_INDEX}" "torch>=2.1"
WORKDIR /src
COPY pyproject.toml README.md ./
COPY models ./models
COPY server ./server
COPY frontend ./frontend
RUN pip install --no-compile .
# Drop what the app never loads (it trains with plain eager torch: no torch.compile, no C++
# extensions, no TorchScript): torch's C++ test binaries and headers, CMake files, static
# libraries, every package's tests/ folder, bytecode; and strip the symbol tables (not the
# dynamic symbols) from torch's shared libraries: ~90 MB of libtorch_cpu.so alone.
# torch/bin/torch_shm_manager stays (torch.multiprocessing uses it).
RUN site="$(python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" \
 && rm -rf "$site/torch/test" "$site/torch/include" "$site/torch/share/cmake" \
           "$site"/torch/bin/test_* "$site"/torch/bin/*Test "$site"/torch/bin/protoc* \
           "$site"/torch/bin/*.pt "$site"/torch/bin/*.ptl "$site"/torch/lib/lib*test*.so \
           "$site/torch/lib/libbackend_with_compiler.so" "$site/torch/lib/libaoti_custom_ops.so" \
 && find /opt/venv -name '*.a' -delete \
 && find /opt/venv -depth -type d \( -name tests -o -name __pycache__ \) -exec rm -rf {} + \
 && find "$site/torch/lib" \( -name 'libtorch*.so' -o -name 'libc10*.so' \) -exec strip --strip-unneeded {} + \
 && python -I -B -c 'import torch, server.app; server.app.create_app(); print(torch.ones(3).sum().item())'

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="NCE Playground" \
      org.opencontainers.image.description="A browser lab for noise-contrastive estimation"
RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin nce
COPY --from=build /opt/venv /opt/venv
# MALLOC_ARENA_MAX=2: at most 2 glibc malloc arenas instead of 8 per core, so the sessions' threads
# fragment less memory while they run (the server also calls malloc_trim when a session ends:
# server/memory.py). bench/memory_storm.py measures both; docs/benchmarks.md (Memory) has the numbers.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    MALLOC_ARENA_MAX=2 \
    NCE_HOST=0.0.0.0 \
    NCE_PORT=8000
USER 10001
WORKDIR /home/nce
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/api/health', timeout=4).status == 200 else 1)"]
CMD ["nce-playground", "serve"]
