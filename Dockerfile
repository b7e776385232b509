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
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
# torch first, from the chosen index (CPU or CUDA build); the app's own requirement is open
RUN pip install --index-url "${TORCH_INDEX}" "torch>=2.1"
WORKDIR /src
COPY pyproject.toml README.md ./
COPY models ./models
COPY server ./server
COPY frontend ./frontend
RUN pip install . && find /opt/venv -name '__pycache__' -prune -exec rm -rf {} +

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="NCE Playground" \
      org.opencontainers.image.description="A browser lab for noise-contrastive estimation"
RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin nce
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    NCE_HOST=0.0.0.0 \
    NCE_PORT=8000
USER 10001
WORKDIR /home/nce
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/api/health', timeout=4).status == 200 else 1)"]
CMD ["nce-playground", "serve"]
