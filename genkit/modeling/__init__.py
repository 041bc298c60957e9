"""What family models share, as functions and one plumbing base class (TensorFlow side).

`base.GenerativeModel` (trackers, data facts, random-state saving), `steps` (batches, one
update, loss scaling, logging), `networks` (trunks, conditioning, shape checks), `prior`
(draws and grids), `ema` (weight averages), `reference_batch` (virtual batch norm), `diffusion`
(the denoiser, its objective and sampling calls of the diffusion families), `build` (the model a
spec's card names).
"""

__all__: list = []
