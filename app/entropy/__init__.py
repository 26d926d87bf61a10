"""The entropy-coding core of the end-to-end codecs (``hyperprior``, ``menet``).

- :mod:`app.entropy.gdn`: GDN / inverse GDN (Ballé, Laparra, Simoncelli, ICLR 2016/2017).
- :mod:`app.entropy.models`: the factorized entropy bottleneck of the hyper-latent and the
  Gaussian conditional of the latent (Ballé et al., "Variational image compression with a
  scale hyperprior", ICLR 2018, §2 and appendix 6.1), uniform-noise quantisation in
  training, rounding at inference, and their 16-bit integer probability tables.
- :mod:`app.entropy.coder`: arithmetic (rANS) coding of integer symbols with those tables
  through ``constriction``; numpy only, no torch.
- :mod:`app.entropy.binary`: DeepSIC's context-adaptive binary arithmetic coding of 6-bit
  feature codes, bit plane by bit plane, with a learned integer context table
  (``constriction``'s Bernoulli model); numpy only, no torch.

The bit-exactness rules (the decoder must compute the probabilities the encoder used) are
described in :mod:`app.entropy.models`.
"""
