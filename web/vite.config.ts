import { defineConfig } from 'vitest/config'

// The gateway serves the build at / (files embedded in its binary); `npm run dev` proxies the
// API to a gateway on 127.0.0.1:8080.
export default defineConfig({
  build: { outDir: 'dist', emptyOutDir: true, chunkSizeWarningLimit: 1024 },
  server: {
    host: '127.0.0.1',
    proxy: { '/api': { target: 'http://127.0.0.1:8080', ws: true } },
  },
  test: { environment: 'jsdom', include: ['src/**/*.test.ts', 'src/**/*.test.tsx'] },
})
