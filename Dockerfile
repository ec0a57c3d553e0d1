# The Governor service for Cloud Run (`governor serve --backend gcp`).
# Node 24 runs the TypeScript sources directly (type stripping): no build step,
# and no devDependency is needed at run time.
FROM node:24-slim
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=8080 \
    GOVERNOR_DATA_DIR=/var/lib/governor
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY src ./src
COPY governors ./governors
COPY policies ./policies
COPY bin ./bin
RUN mkdir -p /var/lib/governor && chown node:node /var/lib/governor
USER node
EXPOSE 8080
ENTRYPOINT ["node", "src/cli/main.ts"]
CMD ["serve", "--backend", "gcp"]
