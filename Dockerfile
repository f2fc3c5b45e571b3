# Build stage: type-check and compile the TypeScript to dist/.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY shared ./shared
COPY producer ./producer
COPY workers ./workers
COPY coordinator ./coordinator
COPY board ./board
COPY scripts ./scripts
RUN npm run build

# Runtime stage: production dependencies, compiled code and the migrations; runs as a non-root user.
FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production MIGRATIONS_DIR=/app/migrations
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY bin ./bin
COPY migrations ./migrations
USER node
CMD ["npm", "run", "start:worker"]
