"""Novel view synthesis with 3D Gaussian splatting (gsplat on CUDA, a PyTorch renderer on CPU)."""
